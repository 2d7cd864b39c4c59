"""The command line's progress bar: tqdm on stderr when it is a terminal, nothing otherwise.

Every long function of levier takes ``progress=`` (see :mod:`levier.progress`: ``None``,
``False``, ``True`` or a callable ``progress(done, total)``, with the paths done so far across
all the work). The command line passes a :class:`ProgressBar`, drawn only on a terminal: a log
file, a pipe or CI stays clean, and ``--quiet`` silences it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["ProgressBar", "terminal_bar"]

Callback = Callable[[int, int], Any]


class ProgressBar:
    """``bar(done, total)`` advances a tqdm bar to ``done`` of ``total`` paths.

    The bar appears at the first call; a ``total`` that grows (an estimate of the work, raised
    along the way) is followed. Use it as a context manager, or call :meth:`close`, to end it:
    the caller knows when the work is over, the count may not (an optimiser stops early).

    Parameters
    ----------
    stream : file, optional
        Where a text bar is drawn (default: stderr). Ignored in a notebook, where the bar is a
        widget.
    quiet : bool
        Draw nothing.
    notebook : bool
        Use ``tqdm.auto`` (a widget in Jupyter with ipywidgets, text elsewhere) and draw whatever
        ``stream`` is; otherwise a text bar, drawn only if ``stream`` is a terminal.
    label : str
        What is counted (shown as the unit: ``paths/s``).
    description : str, optional
        Shown before the bar (e.g. the command).
    """

    def __init__(self, stream=None, *, quiet: bool = False, notebook: bool = False, label: str = "paths",
                 description: str | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.notebook = notebook
        terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.active = not quiet and (notebook or terminal)
        self.label, self.description = label, description
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.active:
            return
        if self._bar is None:
            if self.notebook:
                from tqdm.auto import tqdm
            else:
                from tqdm import tqdm
            self._bar = tqdm(total=total, unit=self.label.rstrip("s") or self.label, unit_scale=True,
                             desc=self.description, file=None if self.notebook else self.stream,
                             mininterval=0.2, dynamic_ncols=True, leave=True)
        bar = self._bar
        if total != bar.total:
            bar.total = total
        bar.update(max(done - bar.n, 0))

    def close(self) -> None:
        """End the bar (if one was drawn); later calls draw a new one."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def terminal_bar(*, quiet: bool = False, description: str | None = None) -> ProgressBar:
    """The command line's bar: on stderr, drawn only if stderr is a terminal and not ``quiet``."""
    return ProgressBar(sys.stderr, quiet=quiet, description=description)
