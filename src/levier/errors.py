"""Errors for people: every bad input names its file, the key or row, and what was expected.

The command line turns any :class:`InputError` into a message on stderr and exit code 2,
without a traceback: a user's mistake is not a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what was expected.

    Parameters
    ----------
    where : str
        The key path in a scenario (``sectors[1].loading``) or the line of a loan book
        (``line 7``); empty when the problem concerns the whole file.
    message : str
        What is wrong and what was expected, in words.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InputError(Exception):
    """A problem with something the user gave levier (exit code 2 on the command line).

    Parameters
    ----------
    source : str
        The file (or ``"<overrides>"``, ``"<dict>"``) the input came from.
    problems : sequence of Problem or str
        Everything found wrong, so that a user fixes all of it in one go.
    """

    kind = "input"

    def __init__(self, source: str, problems: Sequence[Problem | str]):
        self.source = str(source)
        self.problems = [p if isinstance(p, Problem) else Problem("", str(p)) for p in problems]
        super().__init__(self._format())

    def _format(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        lines = [f"{self.source}: {len(self.problems)} problems in this {self.kind}:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class ScenarioError(InputError):
    """A scenario file (or an override of it) that is not valid."""

    kind = "scenario"


class LoanBookError(InputError):
    """A loan-book file whose rows or columns are not valid; rows are named by file line."""

    kind = "loan book"


class OutputError(InputError):
    """An output folder that cannot be written as asked (e.g. it exists and is not empty)."""

    kind = "output"


def not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    r"""Where a file stops being UTF-8, for a person: its line and the byte found there.

    ``exc`` is the error of decoding ``raw`` as levier reads files, ``utf-8-sig``: its offsets
    count from after a byte-order mark, if there is one.

    >>> raw = "a,b\nCôte,1\n".encode("cp1252")
    >>> try:
    ...     raw.decode("utf-8-sig")
    ... except UnicodeDecodeError as exc:
    ...     print(not_utf8(raw, exc))
    is not UTF-8 text: line 2, byte 0xF4 (invalid continuation byte; a file saved as Latin-1 or Windows-1252?)
    """
    start = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
    line = raw.count(b"\n", 0, start) + 1
    byte = raw[start] if start < len(raw) else 0
    return f"is not UTF-8 text: line {line}, byte 0x{byte:02X} ({exc.reason}; a file saved as Latin-1 or Windows-1252?)"


def install_hint(package: str, extra: str) -> str:
    """How to install an optional dependency. levier is installed from its source folder (it is
    not on PyPI, where ``pip install 'levier[plot]'`` would look), so name the package itself."""
    return f"pip install {package} (or, in levier's source folder, pip install '.[{extra}]')"


class LevierWarning(UserWarning):
    """Something the user should know about a run that is nonetheless valid (printed as a note
    by the command line)."""


class OutsideFolderWarning(LevierWarning):
    """The loan book is read from outside the scenario file's folder."""
