"""Running the simulation on a Dask cluster: the same result, byte for byte, on any number of workers.

The paths are cut into ranges of whole blocks of paths; each range is one task, the pure function
:func:`levier.engine.run.simulate_range` of the scattered scenario arrays, the seed and its range
(handed to :func:`map_ranges` by the run layer), returning only its paths' reductions (never a paths × projects array). Results are put back in
path order whatever the order in which tasks finish, so a cluster run equals a local run. A task
has no side effect, so when a worker dies Dask simply runs its tasks again elsewhere; levier says
so in a warning. ``pip install 'levier[dask]'`` installs ``dask[distributed]``.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from levier._version import __version__
from levier.errors import InputError, LevierWarning, install_hint
from levier.streams import whole_blocks

__all__ = ["WorkerLostWarning", "connect", "map_ranges", "tuned"]

#: At most this many tasks per run (ranges grow beyond a chunk when there are more paths).
MAX_TASKS = 2_000


class WorkerLostWarning(LevierWarning):
    """A worker left the cluster during a run; its tasks were run again, the result is unchanged."""


_TUNED = False


def _allocator_for_numpy() -> None:
    """Let freed numpy temporaries be reused in a Dask worker (once per process, glibc only).

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes glibc's mmap
    threshold at 128 kB: every temporary array of the engine is then a fresh ``mmap`` and a
    storm of page faults, and a worker runs at half speed (measured: 8.7 s against 4.4 s for
    100 000 Moselle-Est paths on 2 workers). Raising the two thresholds restores the speed of a
    plain process; the worker keeps its freed memory for reuse instead of returning it at once.
    """
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 28)  # M_MMAP_THRESHOLD: 256 MB
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: 1 GB
    except (OSError, AttributeError):  # not glibc: there is nothing to tune
        return


def tuned(function):
    """``function`` run with the allocator tuned for numpy (for tasks of other modules)."""
    def task(*args):
        _allocator_for_numpy()
        return function(*args)

    task.__name__ = getattr(function, "__name__", "task")
    return task


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError("running on a Dask cluster needs dask.distributed: "
                          + install_hint("'dask[distributed]'", "dask")) from None
    return distributed


def connect(address: str | None = None, workers: int | None = None, timeout: float = 5.0):
    """A :class:`distributed.Client` to the scheduler at ``address``, or to a new
    ``LocalCluster`` of ``workers`` processes (one thread each).

    Raises
    ------
    InputError
        If the scheduler cannot be reached within ``timeout`` seconds (exit code 2 on the CLI).
    """
    distributed = _distributed()
    if address is not None:
        try:
            return distributed.Client(address, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as exc:
            raise InputError("--dask", [f"cannot reach a Dask scheduler at {address} within {timeout:g} s ({exc})"]) from None
        except ValueError as exc:
            raise InputError("--dask", [f"{address!r} is not a scheduler address: {exc}"]) from None
    cluster = distributed.LocalCluster(n_workers=int(workers or 1), threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    return distributed.Client(cluster)


def _levier_versions(client) -> set[str]:
    def version():
        import numpy

        from levier._version import __version__ as installed

        return f"levier {installed}, numpy {numpy.__version__}"

    try:
        return set(client.run(version).values())
    except Exception as exc:  # a worker without levier cannot even unpickle the tasks
        raise InputError("dask", [f"levier is not importable on the workers ({exc}); install the same levier "
                                  "on every worker"]) from None


def map_ranges(client, task, shared: list, n_paths: int, chunk: int, args: tuple = (),
               progress: Any = None) -> Iterator[tuple[int, int, Any]]:
    """Run ``task(*shared, start, stop, *args)`` for consecutive ranges of paths on ``client``
    (``shared`` scattered once to every worker) and yield ``(start, stop, result)`` in path order."""
    distributed = _distributed()
    versions = _levier_versions(client)
    here = f"levier {__version__}, numpy {np.__version__}"
    if versions and versions != {here}:
        raise InputError("dask", [f"the workers run {' / '.join(sorted(versions))}, this client {here}: results "
                                  "could differ; install the same versions everywhere"])
    per_task = whole_blocks(chunk * max(1, -(-n_paths // (chunk * MAX_TASKS))))  # each block drawn by one task
    ranges = [(a, min(a + per_task, n_paths)) for a in range(0, n_paths, per_task)]
    workers_before = set(client.scheduler_info()["workers"])
    scattered = client.scatter(list(shared), broadcast=True, hash=False)  # fresh keys: no race with a release
    run = uuid.uuid4().hex
    futures = {client.submit(task, *scattered, a, b, *args, pure=True, key=f"levier-{run}-{a}-{b}"): (a, b)
               for a, b in ranges}
    done: dict[int, tuple[int, Any]] = {}
    next_start, finished = 0, 0
    try:
        for future in distributed.as_completed(futures):
            a, b = futures[future]
            try:
                done[a] = (b, future.result())
            except distributed.client.FutureCancelledError:  # pragma: no cover - cluster shut down
                raise RuntimeError("the Dask cluster cancelled the run") from None
            except distributed.scheduler.KilledWorker as exc:
                raise RuntimeError(f"paths {a}-{b - 1} killed every worker that tried them ({exc}); "
                                   "not retrying further") from None
            finished += b - a
            if progress is not None:
                progress(finished, n_paths)
            while next_start in done:  # hand back in path order, keeping only what is pending
                stop, result = done.pop(next_start)
                yield next_start, stop, result
                next_start = stop
    finally:
        for future in futures:
            future.release()
    lost = workers_before - set(client.scheduler_info()["workers"])
    if lost:
        warnings.warn(f"{len(lost)} Dask worker(s) left during the run ({', '.join(sorted(lost))}); their tasks were "
                      "run again elsewhere and the result is unchanged", WorkerLostWarning, stacklevel=3)

