"""Progress of long work, in one protocol: ``progress(done, total)``.

Every long function of levier (``simulate``, the tail estimators, the policy lab) takes
``progress=``: ``None`` or ``False`` shows nothing, ``True`` a bar (tqdm's ``auto`` flavour, so
that it shows in a terminal and in a notebook), and any callable is called as
``progress(done, total)``. A leaf: the run layer and the lab call it, the CLI chooses it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Union

__all__ = ["Progress", "Tracker", "as_progress"]

#: What a ``progress=`` argument may be.
Progress = Union[bool, Callable[[int, int], None], None]


class _Bar:
    """A tqdm bar behind the ``progress(done, total)`` protocol."""

    def __init__(self, total: int, unit: str = "path"):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, unit=unit, unit_scale=True, dynamic_ncols=True, leave=False)

    def __call__(self, done: int, total: int) -> None:
        if self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


@contextlib.contextmanager
def as_progress(progress: Any, total: int) -> Iterator[Callable[[int, int], None] | None]:
    """The callable behind a ``progress=`` argument, closed (if it is a bar) on exit."""
    if progress is None or progress is False:
        yield None
    elif progress is True:
        bar = _Bar(total)
        try:
            yield bar
        finally:
            bar.close()
    elif callable(progress):
        yield progress
    else:
        raise TypeError(f"progress must be True, False, None or a callable progress(done, total); got {progress!r}")


class Tracker:
    """Progress across several runs: each run's ``(done, total)`` offset by the work before it.

    Parameters
    ----------
    progress : callable or None
        The overall ``progress(done, total)``.
    total : int
        All the work, in paths (an estimate is fine: it is raised if exceeded).
    """

    def __init__(self, progress: Callable[[int, int], None] | None, total: int):
        self.progress, self.total, self.done = progress, int(total), 0

    def run(self) -> Callable[[int, int], None] | None:
        """The ``progress`` callable of the next run."""
        if self.progress is None:
            return None
        offset = self.done

        def step(done: int, total: int) -> None:
            self.done = offset + done
            self.total = max(self.total, self.done)
            assert self.progress is not None
            self.progress(self.done, self.total)

        return step

    def finish(self) -> None:
        """Say the work is done (an estimate of it above the work done would leave a bar short of its end)."""
        self.total = self.done
        if self.progress is not None:
            self.progress(self.done, self.total)
