"""The numba set-up of the compiled engine: where compiled code is cached.

Compiled machine code is cached on disk so that only the first process after an install pays for
compilation. numba looks for a cache folder next to the source (``__pycache__``), then in the
user's cache folder, and raises at decoration time when neither is writable — which would make
``import levier`` fail on a read-only install with a read-only home. :func:`jit` therefore tries
those places itself, then a private folder under the system's temporary folder, and compiles
without a cache (in memory, once per process) when nothing is writable. ``NUMBA_CACHE_DIR``, if
set, is numba's own and taken as given.

No ``fastmath``: the results must not depend on how the compiler reassociates additions.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

import numba
from numba.core import config as _numba_config

__all__ = ["CACHE", "compile_notice", "jit", "quiet_notice", "will_compile"]


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists or can be made, and a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


def _choose_cache() -> str | None:
    """The folder numba will cache into (None: no cache), setting numba's config if needed."""
    if os.environ.get("LEVIER_NO_CACHE"):
        return None
    if _numba_config.CACHE_DIR:  # NUMBA_CACHE_DIR: the user's choice
        return _numba_config.CACHE_DIR if _writable(Path(_numba_config.CACHE_DIR)) else None
    here = Path(__file__).parent / "__pycache__"
    if _writable(here):
        return str(here)
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for folder in (Path(home) / "levier-numba", Path(tempfile.gettempdir()) / f"levier-numba-{os.getuid()}"):
        if _writable(folder):
            _numba_config.CACHE_DIR = str(folder)  # read by numba's locators when a function is decorated
            return str(folder)
    return None


#: Where compiled code is cached (None: compiled in memory once per process).
CACHE: str | None = _choose_cache()


def jit(function=None, *, inline: bool = False, vector: bool = False):
    """``numba.njit(nogil=True)`` with the disk cache when there is one (see the module's notes);
    ``inline=True`` inlines the function into its compiled callers (numba's ``inline="always"``);
    ``vector=True`` drops Python's test for a division by zero (numba's ``error_model="numpy"``:
    IEEE's inf or nan instead), an exit from a loop that keeps the compiler from vectorising it —
    for a function whose divisors cannot be zero."""
    if function is None:
        return lambda f: jit(f, inline=inline, vector=vector)
    options: dict = {"nogil": True, "inline": "always" if inline else "never"}
    if vector:
        options["error_model"] = "numpy"
    if CACHE is not None:
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:  # no locator after all: compile in memory rather than fail the import
            return numba.njit(cache=False, **options)(function)
    return numba.njit(cache=False, **options)(function)


_notice_lock = threading.Lock()
_noticed = False


def compile_notice(dispatchers, stream=None) -> None:
    """Say once per process, on a terminal, that the engine is being compiled (first run only).

    A dispatcher with no compiled signature whose disk cache holds nothing is about to compile;
    a process loading from the cache says nothing.
    """
    global _noticed
    if _noticed:
        return
    with _notice_lock:
        if _noticed:
            return
        _noticed = True
        stream = sys.stderr if stream is None else stream
        if not getattr(stream, "isatty", lambda: False)():
            return
        if any(will_compile(d) for d in dispatchers):
            where = f"cached in {CACHE}" if CACHE else "not cached: no writable folder"
            print(f"levier: compiling the engine for this kind of run, once after installation: 5 to 15 s of one core "
                  f"({where}; `levier compile` compiles all of it ahead of time) ...", file=stream, flush=True)


def quiet_notice() -> None:
    """Say nothing of the compilation in this process (a caller that says what it compiles itself)."""
    global _noticed
    with _notice_lock:
        _noticed = True


def will_compile(dispatcher) -> bool:
    """Whether calling ``dispatcher`` will compile: it has no compiled signature and its disk cache
    holds no code for it."""
    if dispatcher.signatures:
        return False
    cache = getattr(dispatcher, "_cache", None)
    if cache is None:
        return True
    try:
        index = cache._cache_file._load_index()  # numba's on-disk index: {signature key: file}
        # a key ends with the hashes of the code and of its closure's values: one per kernel variant
        mine = cache._index_key(None, dispatcher.targetctx.codegen())[2]
    except Exception:  # no cache, or numba's internals moved: assume the worst
        return True
    return not any(key[2] == mine for key in index)
