"""Writing a result to a folder: all of it or nothing, and never over someone's files silently.

The tables are written into a temporary folder beside the target, then moved into place in one
rename. An existing non-empty folder is refused unless ``force=True``; with it, the old folder
is kept aside until the new one is in place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from levier.errors import OutputError

if TYPE_CHECKING:
    from levier.engine.result import SimulationResult

__all__ = ["check_target", "has_parquet", "write_csv_atomic", "write_file_atomic", "write_result"]


def has_parquet() -> bool:
    """Whether pyarrow is installed (``pip install 'levier[parquet]'``)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def check_target(out_dir: str | Path, *, force: bool = False) -> Path:
    """The output folder, if it may be written: absent, empty, or ``force``.

    Raises
    ------
    OutputError
        If it is a file, or a non-empty folder without ``force``.
    """
    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise OutputError(str(target), ["exists and is not a folder"])
    if target.is_dir() and any(target.iterdir()) and not force:
        raise OutputError(str(target), ["exists and is not empty; choose another folder or pass --force to replace it"])
    return target


def write_result(result: SimulationResult, out_dir: str | Path, *, force: bool = False, parquet: bool | None = None) -> list[Path]:
    """Write paths, summary, ratios, by-year, by-sector and by-territory tables and ``meta.json``.

    Parameters
    ----------
    result : SimulationResult
    out_dir : path
        The folder to create. It may exist only if empty, unless ``force``.
    force : bool
        Replace an existing non-empty folder (the old one is removed only once the new one is
        complete).
    parquet : bool, optional
        Also write Parquet copies of the tables (default: when pyarrow is installed).

    Returns
    -------
    list of Path
        The files written, inside ``out_dir``.

    Raises
    ------
    OutputError
        If ``out_dir`` exists and is not an empty folder and ``force`` is false, or if it cannot
        be written.
    """
    target = check_target(out_dir, force=force)
    parquet = has_parquet() if parquet is None else parquet
    if parquet and not has_parquet():
        raise OutputError(str(target), ["Parquet output needs pyarrow: pip install 'levier[parquet]'"])

    tables = {
        "paths": result.paths.reset_index(),
        "summary": result.summary().reset_index(),
        "ratios": result.ratios().reset_index(),
        "by_year": result.by_year().reset_index(),
        "by_sector": result.by_sector().reset_index(),
        "by_territory": result.by_territory().reset_index(),
    }
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=parent))
    except OSError as exc:
        raise OutputError(str(target), [f"cannot create a folder in {parent}: {exc.strerror}"]) from None
    try:
        names = []
        for name, frame in tables.items():
            frame.to_csv(staging / f"{name}.csv", index=False)
            names.append(f"{name}.csv")
            if parquet:
                frame.to_parquet(staging / f"{name}.parquet", index=False)
                names.append(f"{name}.parquet")
        meta = dict(result.meta, files=sorted(names + ["meta.json"]))
        (staging / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / n for n in sorted(names + ["meta.json"])]


def _move_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    if not any(target.iterdir()):
        target.rmdir()
        os.replace(staging, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.resolve().parent))
    aside.rmdir()
    os.replace(target, aside)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def write_file_atomic(path: str | Path, write, *, force: bool = False) -> Path:
    """Write one file through a temporary file beside it, renamed into place: all or nothing.

    ``write(tmp_path)`` writes the content. An existing ``path`` is refused unless ``force``;
    on any error or interruption the temporary file is removed and ``path`` is untouched.

    Raises
    ------
    OutputError
        If ``path`` exists and ``force`` is false, or if it cannot be written.
    """
    target = Path(path)
    if target.exists() and not force:
        raise OutputError(str(target), ["exists; use --force to replace it"])
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(str(target), [f"cannot write in {parent}: {exc.strerror}"]) from None
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_csv_atomic(frame, path: str | Path, *, force: bool = False) -> Path:
    """Write a table as CSV, all or nothing (see :func:`write_file_atomic`)."""
    return write_file_atomic(path, frame.to_csv, force=force)
