"""The numba set-up of the compiled engine: where compiled code is cached.

Compiled machine code is cached on disk so that only the first process after an install pays for
compilation. The folder is the first writable one of: ``NUMBA_CACHE_DIR`` if it is set (numba's
own variable, taken as given: nothing else is tried), the package's ``__pycache__``, the user's
cache folder (``~/.cache/levier-numba``), a private folder under the system's temporary folder;
with none writable, the engine is compiled without a cache (in memory, once per process), so that
a read-only install with a read-only home still imports and runs (numba itself would raise when
the kernels are decorated).

Inside it, each processor has a folder of its own (LLVM's name for it and a digest of the target
numba compiles for): numba keeps the code of every processor in one index per function and
numbers its files from 1 without a lock, so two machines of different kinds sharing a cache (an
environment on a network drive, ``levier compile --dask`` on a mixed cluster) compiling at the
same moment could each take number 1, and one of them would later load the other's code. The
folder is levier's alone: numba's settings are left as they were, for the user's own functions.

No ``fastmath``: the results must not depend on how the compiler reassociates additions.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import re
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

import numba
from numba.core import caching as _caching
from numba.core import config as _numba_config
from numba.core import event as _numba_event

__all__ = ["CACHE", "compile_notice", "compile_seconds", "jit", "processor", "quiet_notice", "will_compile"]


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists or can be made, and a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


def processor() -> str:
    """The processor numba compiles for, as a folder's name: LLVM's name for it (``NUMBA_CPU_NAME``
    if set) and a digest of numba's whole key for the code it makes (the target, the processor and
    its features)."""
    from numba.core.registry import cpu_target

    key = cpu_target.target_context.codegen().magic_tuple()
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", str(key[1])) or "cpu"
    return f"{name}-{hashlib.sha256(repr(key).encode()).hexdigest()[:12]}"


def _choose_cache() -> str | None:
    """The folder levier's compiled code is cached in (None: no cache); see the module's notes."""
    if os.environ.get("LEVIER_NO_CACHE"):
        return None
    cpu = processor()
    # outside the package, a folder per install too (numba's own rule): two environments with two
    # versions of levier would otherwise replace each other's code at every run
    install = _caching._CacheLocator.get_suitable_cache_subpath(__file__)
    return next((str(folder) for folder in _places(cpu, install) if _writable(folder)), None)


def _places(cpu: str, install: str):
    """The cache folders to try, in order (each made only if the ones before would not do)."""
    if _numba_config.CACHE_DIR:  # NUMBA_CACHE_DIR: the user's choice
        yield Path(_numba_config.CACHE_DIR) / "levier" / cpu / install
        return
    yield Path(__file__).parent / "__pycache__" / f"numba-{cpu}"
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    yield Path(home) / "levier-numba" / cpu / install
    shared = Path(tempfile.gettempdir()) / f"levier-numba-{_user()}"
    if _private(shared):
        yield shared / cpu / install


def _private(folder: Path) -> bool:
    """Whether ``folder``, in the temporary folder every user shares, is this user's alone (made so
    if absent): code cached in a folder someone else made, or can write to, is theirs to choose."""
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return False
    if not hasattr(os, "getuid"):  # Windows: the temporary folder is the user's own
        return True
    if not (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()) or info.st_mode & 0o022:
        return False  # someone else's, or others could have written in it
    if info.st_mode & 0o077:  # the user's own, readable by others (made by an earlier levier): closed now
        with contextlib.suppress(OSError):
            folder.chmod(0o700)
    return True


def _user() -> str:
    """Who runs this, for a private folder's name: the user id, or (Windows) the user's name."""
    if hasattr(os, "getuid"):
        return str(os.getuid())
    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment either
        return "user"


#: Where compiled code is cached (None: compiled in memory once per process).
CACHE: str | None = _choose_cache()


class _Locator(_caching._SourceFileBackedLocatorMixin, _caching._CacheLocator):
    """numba's cache locator for levier's kernels: :data:`CACHE`, whatever the function (the code
    is told apart by module, name and line, and is valid while its source file is unchanged)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno

    def get_cache_path(self):
        return CACHE


class _CacheImpl(_caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]


class _FunctionCache(_caching.FunctionCache):
    """numba's per-function cache, kept in :data:`CACHE`."""

    _impl_class = _CacheImpl


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
    dispatcher = numba.njit(cache=False, **options)(function)
    if CACHE is not None:
        with contextlib.suppress(RuntimeError):  # no locator after all: compile in memory rather than fail the import
            dispatcher._cache = _FunctionCache(function)  # what numba's cache=True does, in levier's folder
    return dispatcher


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


class _CompileClock(_numba_event.Listener):
    """Adds up the wall time numba spends compiling levier's kernels: the outermost compilation of
    each thread (the helpers and numba's own functions it compiles are inside it)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._lock = threading.Lock()
        self._here = threading.local()

    def on_start(self, event) -> None:
        depth = getattr(self._here, "depth", 0)
        if depth == 0:
            self._here.started = time.perf_counter()
            self._here.mine = getattr(event.data["dispatcher"].py_func, "__module__", "").startswith("levier.")
        self._here.depth = depth + 1

    def on_end(self, event) -> None:
        self._here.depth -= 1
        if self._here.depth == 0 and self._here.mine:
            with self._lock:
                self.total += time.perf_counter() - self._here.started


_clock = _CompileClock()
_numba_event.register("numba:compile", _clock)


def compile_seconds() -> float:
    """The wall time this process has spent compiling levier's kernels so far (0 when every kernel
    came from the cache): a run's time minus its growth over the run is the simulation's own."""
    return _clock.total


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
