"""The compiled engine's set-up: a read-only install still imports and runs, the notice of a
first compilation, threads that never change a bit."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import levier
from levier.engine import compiled
from levier.engine.run import prepare

from conftest import make_scenario

SRC = Path(__file__).resolve().parents[1] / "src" / "levier"

_SCRIPT = """
import json, sys
import numba
import levier
from levier.engine import compiled, kernel  # the decoration is what numba refuses without a cache folder
sys.path.insert(0, {tests!r})
from conftest import make_scenario
paths = None
if sys.argv[1] != "0":
    paths = levier.simulate(make_scenario(), paths=int(sys.argv[1]), seed=3, threads=2).paths.to_numpy().tolist()
print(json.dumps({{"cache": compiled.CACHE, "processor": compiled.processor(), "numba": numba.config.CACHE_DIR,
                  "paths": paths}}))
"""


def _read_only_install(tmp_path: Path) -> tuple[Path, dict]:
    """A copy of the package whose folders cannot take a cache, a home that is not a folder."""
    site = tmp_path / "site"
    shutil.copytree(SRC, site / "levier", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "levier" / "engine" / "__pycache__").write_text("not a folder")  # numba's first choice blocked
    blocked = tmp_path / "home-is-a-file"
    blocked.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(PYTHONPATH=str(site), HOME=str(blocked), XDG_CACHE_HOME=str(blocked / "cache"),
               PYTHONDONTWRITEBYTECODE="1")
    return site, env


def _run(env: dict, paths: int, cwd: Path) -> dict:
    script = _SCRIPT.format(tests=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", script, str(paths)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_read_only_install_and_home_cache_in_the_temporary_folder(tmp_path):
    site, env = _read_only_install(tmp_path)
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    out = _run(env, 0, tmp_path)
    folder = tmp_path / "tmp" / f"levier-numba-{os.getuid()}" / out["processor"]
    assert Path(out["cache"]).parent == folder and Path(out["cache"]).name.startswith("engine_")
    assert out["numba"] == ""  # numba's own setting untouched: the user's functions cache where they did


def test_each_processor_caches_in_a_folder_of_its_own(tmp_path):
    # numba numbers the files of one index from 1 without a lock: two kinds of processor saving
    # into one folder at once could take the same number, and one would load the other's code
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "shared")
    native = _run(env, 0, tmp_path)
    generic = _run({**env, "NUMBA_CPU_NAME": "generic"}, 0, tmp_path)
    assert generic["processor"].startswith("generic-") and generic["processor"] != native["processor"]
    for out in (native, generic):
        assert Path(out["cache"]).parent == tmp_path / "shared" / "levier" / out["processor"]


@pytest.mark.slow  # a cold compilation: about 10 s of CPU
def test_with_nowhere_to_cache_the_engine_compiles_in_memory_and_gives_the_same_bytes(tmp_path):
    site, env = _read_only_install(tmp_path)
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "home-is-a-file" / "numba")  # not writable either
    out = _run(env, 5, tmp_path)
    assert out["cache"] is None
    here = levier.simulate(make_scenario(), paths=5, seed=3, threads=1)
    assert np.array(out["paths"]).tobytes() == here.paths.to_numpy().tobytes()


def test_the_first_compilation_is_said_once_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    class Fresh:  # a dispatcher with nothing compiled and no cache
        signatures = ()

    monkeypatch.setattr(compiled, "_noticed", False)
    out = Terminal()
    compiled.compile_notice([Fresh()], out)
    compiled.compile_notice([Fresh()], out)
    assert out.getvalue().count("compiling the engine") == 1
    # not on a pipe, and not when the code is already compiled
    monkeypatch.setattr(compiled, "_noticed", False)
    pipe = io.StringIO()
    compiled.compile_notice([Fresh()], pipe)
    assert pipe.getvalue() == ""

    class Loaded:
        signatures = ("float64",)

    monkeypatch.setattr(compiled, "_noticed", False)
    out = Terminal()
    compiled.compile_notice([Loaded()], out)
    assert out.getvalue() == ""


def test_threads_change_no_bit_and_are_recorded():
    scenario = make_scenario(fund={"capital": 900_000.0, "recycle": True})
    one = levier.simulate(scenario, paths=300, seed=4, threads=1)
    for threads in (2, 3, 8):
        many = levier.simulate(scenario, paths=300, seed=4, threads=threads)
        assert many.paths.to_numpy().tobytes() == one.paths.to_numpy().tobytes()
        assert many.meta["threads"] == threads
        # chunks of 50 paths: three ranges of a block (128 paths) run side by side, each on one kernel thread
        run = prepare(scenario, paths=300, seed=4, threads=threads, chunk_size=50)
        assert (run.workers(), run.kernel_threads()) == (min(threads, 3), 1)
        side_by_side = run.simulate()
        assert side_by_side.paths.to_numpy().tobytes() == one.paths.to_numpy().tobytes()
        assert side_by_side.by_year().to_numpy().tobytes() == one.by_year().to_numpy().tobytes()
    assert levier.simulate(scenario, paths=3, seed=4).meta["threads"] == len(os.sched_getaffinity(0))


def test_a_run_s_compiled_variant_gives_the_full_kernel_s_bytes(monkeypatch):
    # each run compiles only the mechanisms it can use (the others' code is removed before numba
    # types it): forced onto the kernel with every mechanism, a run gives the same bytes
    from levier.engine import kernel

    scenario = make_scenario(fund={"capital": 900_000.0, "recycle": True})
    variant = levier.simulate(scenario, paths=300, seed=4, threads=1)
    assert kernel.run_paths_for(False, *prepare(scenario, paths=2).plan.mechanisms) is not kernel.run_paths
    monkeypatch.setattr(kernel, "run_paths_for", lambda *flags: kernel.run_paths)
    full = levier.simulate(scenario, paths=300, seed=4, threads=1)
    assert full.paths.to_numpy().tobytes() == variant.paths.to_numpy().tobytes()
    assert full.by_year().to_numpy().tobytes() == variant.by_year().to_numpy().tobytes()
    assert full.by_sector().to_numpy().tobytes() == variant.by_sector().to_numpy().tobytes()


def test_the_two_kernel_variants_keep_their_own_cache_files(tmp_path):
    # numba keeps the cached versions of one function in one index and numbers their files from 1:
    # two processes each saving a new version from the same stale index both take number 1, and one
    # version's entry then names the other's code. Played here with the variants' own cache files,
    # each saving as if the other's save had not happened: each entry must still name its own code
    from levier.engine import kernel

    if compiled.CACHE is None:  # LEVIER_NO_CACHE, or nothing writable: no cache files to share
        pytest.skip("the engine is compiled in memory in this session")
    own = [d._cache._cache_file for d in (kernel._plain, kernel.run_paths)]
    # the same file names in a fresh folder
    files = [type(f)(str(tmp_path), f._index_name.removesuffix(".nbi"), f._source_stamp) for f in own]
    for f in files:
        f._load_index = dict  # both processes read the index before either writes: empty
    for f, code in zip(files, (b"plain", b"full")):
        f.save(("key", code), code)
    for f in files:
        del f._load_index
    assert [f.load(("key", code)) for f, code in zip(files, (b"plain", b"full"))] == [b"plain", b"full"]


# -- levier compile: every kernel ahead of the first run -----------------------------------------

def test_compile_engine_leaves_nothing_to_compile_and_says_so(capsys, monkeypatch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its tiny warm-up runs are no study: nothing to warn of
        first = levier.compile_engine()
    assert first.cache == compiled.CACHE
    again = levier.compile_engine()  # in this process now: nothing compiles
    assert again.compiled == ()
    assert {"_plain", "run_paths", "horizon_pd", "twist_thetas"} <= set(again.loaded)  # both kernels and the twist
    from levier.cli import main

    assert main(["compile"]) == 0
    assert "the engine was compiled already: loaded from" in capsys.readouterr().out
    assert main(["--lang", "fr", "compile"]) == 0
    assert "le moteur était déjà compilé : chargé depuis" in capsys.readouterr().out
    # nowhere to keep the code: said, and a failure for the script that asked (an image's build)
    monkeypatch.setattr(compiled, "CACHE", None)
    assert main(["compile"]) == 1
    assert "in memory only: no folder can keep it (set NUMBA_CACHE_DIR" in capsys.readouterr().out


_NO_COMPILE = """
import json, sys
from numba.core import event
compiled = []

class Listener(event.Listener):
    def on_start(self, e):
        pass

    def on_end(self, e):
        if e.data["dispatcher"].py_func.__module__.startswith("levier"):
            compiled.append(e.data["dispatcher"].py_func.__qualname__)

event.register("numba:compile", Listener())
import levier
moselle = levier.load_scenario(sys.argv[1])
levier.simulate(moselle, paths=40, threads=2)
levier.simulate(moselle.with_overrides({"guarantee.share": 0.5}), paths=40)
levier.tail_risk(moselle, paths=400, levels=(0.99,))
print(json.dumps(compiled))
"""


@pytest.mark.slow  # two cold compilations: about 30 s of CPU
def test_after_levier_compile_no_run_compiles(tmp_path):
    from conftest import SHIPPED

    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")
    levier_cli = [sys.executable, "-m", "levier", "compile"]
    first = subprocess.run(levier_cli, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    assert "compiled the engine in" in first.stdout and str(tmp_path / "cache") in first.stdout
    # a later process: the shipped scenario's run, a run with a guarantee, the tail estimator
    done = subprocess.run([sys.executable, "-c", _NO_COMPILE, str(SHIPPED)], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
    second = subprocess.run(levier_cli, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0 and "the engine was compiled already" in second.stdout


def test_the_time_spent_compiling_is_counted_and_kept_out_of_the_speed(capsys):
    import numba

    from levier.present.display import run_report

    def probe(x):
        return x + 1.0

    def other(x):
        return x + 2.0

    probe.__module__ = "levier.probe"  # one of levier's kernels, as the clock tells them
    before = compiled.compile_seconds()
    numba.njit(other)(1.0)  # a user's own function: not levier's compilation
    assert compiled.compile_seconds() == before
    numba.njit(probe)(1.0)
    assert compiled.compile_seconds() > before
    result = levier.simulate(make_scenario(), paths=400, seed=3)
    assert result.meta["compile_seconds"] >= 0.0  # nothing left to compile in this session, or the first run's
    result.meta.update(elapsed_seconds=3.0, compile_seconds=2.0)
    assert run_report(result).endswith("3.00 s, of which 2.00 s compiling the engine, once (400 paths/s)")
    assert run_report(result, "fr").endswith("3,00 s, dont 2,00 s de compilation du moteur, une fois "
                                             "(400 trajectoires/s)")
    from levier.present.report import _provenance

    assert "of which compiling the engine (once)" in _provenance(result.meta, "now", "en").index
    result.meta.update(compile_seconds=0.0)
    assert run_report(result).endswith(" 3.00 s (133 paths/s)")
    assert "of which compiling the engine (once)" not in _provenance(result.meta, "now", "en").index


def test_the_cache_folder_is_chosen_without_a_user_id(monkeypatch):
    # Windows has no os.getuid: the private temporary folder is named by the user's name
    monkeypatch.delattr(os, "getuid")
    monkeypatch.setenv("LOGNAME", "ana")
    assert compiled._user() == "ana"
    assert compiled._choose_cache() is not None


def test_a_shared_temporary_folder_that_others_can_write_to_is_not_used(tmp_path):
    # /tmp is everyone's: a folder of that name made by someone else, or writable by others, could
    # hold code for levier to load and run; it is passed over (here: nothing left, compiled in memory)
    site, env = _read_only_install(tmp_path)
    env["TMPDIR"] = str(tmp_path / "tmp")
    planted = tmp_path / "tmp" / f"levier-numba-{os.getuid()}"
    planted.mkdir(parents=True)
    planted.chmod(0o777)
    assert _run(env, 0, tmp_path)["cache"] is None
    planted.chmod(0o755)  # the user's own, that others can only read (an earlier levier's): used, and closed
    assert Path(_run(env, 0, tmp_path)["cache"]).is_relative_to(planted)
    assert stat.S_IMODE(planted.stat().st_mode) == 0o700
