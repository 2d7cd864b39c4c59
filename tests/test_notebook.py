"""The quick-start notebook runs from top to bottom, so it never rots."""

from __future__ import annotations

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("matplotlib")


def test_quickstart_notebook_executes():
    path = ROOT / "examples" / "quickstart.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    html = "".join(out.get("data", {}).get("text/html", "") for out in outputs)
    assert "Moselle-Est" in html and "variance_reduction" in html
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 4  # loss, fan, leverage, differences
