"""Writing a result to a folder: all of it or nothing, and never over someone's files silently.

The tables are written into a temporary folder beside the target, then moved into place in one
rename. An existing non-empty folder is refused unless ``force=True``; with it, the old folder
is kept aside until the new one is in place — and it must be a results folder levier wrote,
holding nothing else: ``force`` never deletes a file levier did not write.

What is written follows the user's umask, as any file they create would (0o666 & ~umask for
files, 0o777 & ~umask for folders): colleagues on a shared drive can read the results. The
staging folder and file made by :mod:`tempfile` are private (0o700 / 0o600) by design, so they
are opened up before the rename.

A results folder is self-contained: it holds the scenario of the run (``scenario.toml``, its
overrides applied) and a copy of its loan book, so that ``levier report --from DIR`` replays it
from any working directory, even once the original files are gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from levier.errors import OutputError, install_hint
from levier.present.i18n import check_lang

if TYPE_CHECKING:
    from levier.engine.result import SimulationResult

__all__ = ["check_file_target", "check_target", "has_parquet", "scenario_of_folder", "scenario_toml", "write_csv_atomic",
           "write_file_atomic", "write_result"]

#: The copy of the run's scenario inside a results folder, and the folder holding its loan book
#: when the scenario's own reference to it cannot be kept (an absolute path, or one out of the
#: scenario's folder).
SCENARIO_COPY = "scenario.toml"
BOOK_FOLDER = "loan_book"
#: CSV for people as well as programs: a byte-order mark tells Excel the file is UTF-8 (without
#: it, "Alès" reads "AlÃ¨s"); pandas and most readers skip it.
CSV_ENCODING = "utf-8-sig"


def _umask_from_proc() -> int | None:
    """Linux says the umask without changing it (a thread writing a file meanwhile is unaffected)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            lines = [line for line in status if line.startswith("Umask:")]
        return int(lines[0].split()[1], 8) if lines else None
    except (OSError, ValueError):  # no /proc here
        return None


def _umask() -> int:
    mask = _umask_from_proc()
    if mask is None:  # elsewhere os.umask can only be read by setting it; set it straight back
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _as_created(path: Path, *, folder: bool, like: Path | None = None) -> None:
    """Give ``path`` the mode an ordinary ``open``/``mkdir`` would have given it — for a folder,
    with the set-group-id bit it took from a shared parent (so that what is made in it goes to
    the group) — or, ``like`` an existing folder it replaces, that folder's group and (once written
    in) its mode."""
    with contextlib.suppress(OSError):  # a drive mounted without Unix modes (SMB, FAT) sets them itself
        if like is not None:  # writable by its owner while levier writes in it; its own mode once written
            info = like.stat()
            with contextlib.suppress(OSError):  # another group than one's own: only if one is in it
                os.chown(path, -1, info.st_gid)
            os.chmod(path, stat.S_IMODE(info.st_mode) | stat.S_IRWXU)
            return
        mode = (0o777 if folder else 0o666) & ~_umask()
        if folder:
            mode |= os.stat(path).st_mode & stat.S_ISGID
        os.chmod(path, mode)


def has_parquet() -> bool:
    """Whether pyarrow is installed (``pip install 'levier[parquet]'``)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def check_target(out_dir: str | Path, *, force: bool = False) -> Path:
    """The output folder, if it may be written: absent, empty, or with ``force`` a results folder
    levier wrote.

    ``force`` replaces only what it would write again: a folder whose ``meta.json`` is a run's and
    lists every file in it (the loan book's copy in its sub-folder included; a file manager's
    ``.DS_Store`` aside). A folder holding anything else (the user's notes, the scenario being
    run, a sub-folder of theirs), a link to a folder, the current folder or one holding it, is
    refused even with ``force``: replacing it would delete files levier did not write.

    Raises
    ------
    OutputError
        If it is a file, or a non-empty folder without ``force``, or with ``force`` a folder that
        is not, or not only, a levier results folder.
    """
    target = _named(out_dir)
    if target.exists() and not target.is_dir():
        raise OutputError(str(target), ["exists and is not a folder"])
    _check_writable(target)
    if not target.is_dir() or not any(target.iterdir()):
        return target
    if not force:
        raise OutputError(str(target), ["exists and is not empty; choose another folder, or replace it (--force, force=True)"])
    if target.is_symlink():  # the link, not its folder, would be replaced, and the old folder left behind
        raise OutputError(str(target), [f"is a link to {target.resolve()}: name that folder itself to replace it"])
    here, resolved = Path.cwd().resolve(), target.resolve()
    if resolved == here or resolved in here.parents:
        raise OutputError(str(target), ["is the current folder or holds it: --force replaces a results folder, "
                                        "and cannot replace the folder you are in; name another folder"])
    try:
        written = json.loads((target / "meta.json").read_text(encoding="utf-8"))["files"]
        written = {str(name) for name in written}
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(str(target), ["is not a levier results folder (it has no meta.json of a run): --force "
                                        "replaces only a folder levier wrote; choose another folder"]) from None
    others = _not_written(target, written)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise OutputError(str(target), [f"holds files levier did not write ({shown}): --force would delete them; "
                                        "move them or choose another folder"])
    return target


#: What a file manager leaves in a folder it showed: not the user's work, deleted with the folder.
_OS_CLUTTER = {".DS_Store", "Thumbs.db", "desktop.ini"}


def _not_written(folder: Path, written: set[str]) -> list[str]:
    """The entries of ``folder`` (walked without following links) that are not among ``written``
    (paths relative to it, as ``meta.json`` lists them: ``loan_book/book.csv``), nor a folder on
    the way to one of them, nor a file manager's clutter."""
    folders = {parent.as_posix() for name in written for parent in Path(name).parents}  # "books", "."
    others = []
    for root, dirs, files in os.walk(folder):  # os.walk does not follow links to folders
        base = Path(root).relative_to(folder)
        for name in list(dirs):
            if (base / name).as_posix() not in folders or (Path(root) / name).is_symlink():
                others.append((base / name).as_posix() + "/")
                dirs.remove(name)  # not walked: all of it is the user's
        others += [(base / name).as_posix() for name in files
                   if (base / name).as_posix() not in written and name not in _OS_CLUTTER]
    return sorted(others)


def write_result(result: SimulationResult, out_dir: str | Path, *, force: bool = False, parquet: bool | None = None,
                 lang: str | None = "en") -> list[Path]:
    """Write the tables, ``results.xlsx``, ``meta.json`` and the scenario (with its loan book).

    The tables are paths, summary, ratios, by-year, by-sector and by-territory, each as CSV
    (UTF-8 with a byte-order mark, full precision) and, with pyarrow, Parquet. ``results.xlsx``
    holds all but the paths, one sheet each, for Excel. ``scenario.toml`` is the run's scenario
    with its overrides applied, next to a copy of its loan book.

    Parameters
    ----------
    result : SimulationResult
    out_dir : path
        The folder to create. It may exist only if empty, unless ``force``.
    force : bool
        Replace an existing non-empty folder (the old one is removed only once the new one is
        complete) — only a results folder levier wrote and holding nothing else (see
        :func:`check_target`).
    parquet : bool, optional
        Also write Parquet copies of the tables (default: when pyarrow is installed).
    lang : {"en", "fr"}
        The language of ``results.xlsx``'s sheet names and fixed column names (the CSVs and
        Parquet files keep the code names, for programs).

    Returns
    -------
    list of Path
        The files written, inside ``out_dir`` (the loan book's copy included).

    Raises
    ------
    OutputError
        If ``out_dir`` exists and is not an empty folder and ``force`` is false, or if it cannot
        be written.
    """
    lang = check_lang(lang)  # None: the locale's; before anything is written
    target = check_target(out_dir, force=force)
    parquet = has_parquet() if parquet is None else parquet
    if parquet and not has_parquet():
        raise OutputError(str(target), [f"Parquet output needs pyarrow: {install_hint('pyarrow', 'parquet')}"])

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
        # an empty folder the user made (private, or a group's) keeps its mode and group
        like = target if target.is_dir() and not any(target.iterdir()) else None
        _as_created(staging, folder=True, like=like)
    except OSError as exc:
        raise OutputError(str(target), [_why_not(parent, exc, "cannot create a folder in")]) from None
    try:
        from levier.present.excel import write_workbook

        names = []
        for name, frame in tables.items():
            frame.to_csv(staging / f"{name}.csv", index=False, encoding=CSV_ENCODING)
            names.append(f"{name}.csv")
            if parquet:
                frame.to_parquet(staging / f"{name}.parquet", index=False)
                names.append(f"{name}.parquet")
        copies, copy_hash = _copy_scenario(result.scenario, staging, reserved={*names, "meta.json", "results.xlsx"})
        names += copies
        meta = dict(result.meta, files=sorted(names + ["meta.json", "results.xlsx"]), scenario_copy=SCENARIO_COPY,
                    scenario_copy_hash=copy_hash)
        write_workbook({k: v for k, v in tables.items() if k != "paths"}, meta, staging / "results.xlsx", lang=lang)
        names.append("results.xlsx")
        (staging / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        check_target(target, force=force)  # again: the folder may have changed during the run
        if like is not None:
            with contextlib.suppress(OSError):
                os.chmod(staging, stat.S_IMODE(like.stat().st_mode))  # its own mode, now that it is written
        try:
            _move_into_place(staging, target)
        except OSError as exc:
            raise OutputError(str(target), [f"cannot be put in place: {exc.strerror or exc}"]) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / n for n in sorted(names + ["meta.json"])]


def _why_not(parent: Path, exc: OSError, doing: str) -> str:
    """Why a folder for an output could not be made, said of the place at fault: the nearest of
    ``parent``'s folders that exists (a file where a folder should be, or one not writable)."""
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    return f"{doing} {existing}: {exc.strerror}"


def _copy_scenario(scenario, folder: Path, reserved: frozenset[str] | set[str] = frozenset()) -> tuple[list[str], str]:
    """Write ``scenario.toml`` and the loan book's copy into ``folder``.

    A relative reference that stays inside the scenario's folder (``books/2024.csv``) is kept
    and the book copied to the same place, so the copy's content hash is the run's. Any other
    (absolute, or ``../``), or one that is the name of a file the folder holds (``reserved``, and
    ``scenario.toml``: a book called ``summary.csv``), is pointed at ``loan_book/<name>``: the
    hash then differs only by that path.

    Returns
    -------
    names : list of str
        The files written, relative to ``folder``.
    content_hash : str
        The content hash of the copy, read from ``folder``.
    """
    from levier.model.scenario import Scenario

    names = []
    book = scenario.loan_book_path
    if book is not None:
        reference = Path(scenario.loan_book.path)
        inside = not reference.is_absolute() and ".." not in reference.parts
        taken = reference.as_posix().lower() in {n.lower() for n in (*reserved, SCENARIO_COPY)}  # Summary.csv too
        relative = reference if inside and not taken else Path(BOOK_FOLDER) / reference.name
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(book, folder / relative)
        names.append(relative.as_posix())
        data = scenario.model_dump(mode="python", exclude_unset=True)
        data["loan_book"] = dict(data["loan_book"], path=relative.as_posix())
        scenario = Scenario.from_dict(data, source=scenario.source, base_dir=folder)
    (folder / SCENARIO_COPY).write_text(scenario_toml(scenario), encoding="utf-8")
    return [SCENARIO_COPY, *names], scenario.content_hash()


def scenario_toml(scenario) -> str:
    """The scenario as a TOML file: every key with its validated value (defaults spelled out).

    Reading it back gives the same scenario (the same :meth:`~levier.Scenario.content_hash`
    for the same loan book). Keys whose value is none are left out: they are optional and
    none by default.
    """
    data = scenario.model_dump(mode="json", exclude_none=True)
    head = [f"# The scenario of a levier run: {scenario.source}, as validated (defaults spelled out).", ""]
    scalars = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not _is_table(v) and not _is_tables(v)]
    lines = head + scalars
    for key, value in data.items():
        if _is_table(value):
            lines += ["", f"[{_toml_key(key)}]"] + [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in value.items()]
        elif _is_tables(value):
            for item in value:
                lines += ["", f"[[{_toml_key(key)}]]"] + [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"


def scenario_of_folder(folder: str | Path, meta: dict):
    """The scenario of the run in results ``folder``, read from the folder's own copy.

    A folder written before the copy existed falls back to the file the run named (relative
    paths taken from the current folder, as they were then).

    Raises
    ------
    InputError
        If the scenario cannot be found, or its content differs from the run's.
    """
    from levier.errors import InputError
    from levier.model.scenario import load_scenario

    folder = Path(folder)
    copy = meta.get("scenario_copy")
    if copy:
        path, expected = folder / copy, meta.get("scenario_copy_hash", meta.get("scenario_hash"))
        if not path.is_file():
            raise InputError(str(folder), [f"{copy} is missing: this folder holds the scenario of its run"])
    else:
        source = meta.get("scenario_source")
        if not source or not Path(source).is_file():
            raise InputError(str(folder), [f"the scenario file of this run is gone: {source}"])
        path, expected = Path(source), meta.get("scenario_hash")
    scenario = load_scenario(path)
    if scenario.content_hash() != expected:
        raise InputError(str(folder), [f"{path} (or its loan book) has changed since this run (its SHA-256 differs)"])
    return scenario


def _is_table(value) -> bool:
    return isinstance(value, dict)


def _is_tables(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(x, dict) for x in value)


def _toml_key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)  # the shortest text that reads back as the same double
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(text, text)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


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
    _remove(aside)


def _remove(folder: Path) -> None:
    """Delete the replaced results folder; one made read-only is opened up first. What cannot be
    deleted is said, not left behind in silence."""
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        for inner in [folder, *(p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink())]:
            with contextlib.suppress(OSError):
                os.chmod(inner, stat.S_IMODE(inner.stat().st_mode) | stat.S_IRWXU)
        shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        import warnings

        from levier.errors import LevierWarning

        warnings.warn(f"the folder replaced is left in {folder}: it could not be deleted", LevierWarning, stacklevel=3)


def check_file_target(path: str | Path, *, force: bool = False) -> Path:
    """The output file, if it may be written: absent, or ``force`` and a file (never a folder).

    Raises
    ------
    OutputError
        If it is a folder, or exists and ``force`` is false.
    """
    target = _named(path)
    if target.is_dir():  # even with force: a folder is not replaced by a file
        raise OutputError(str(target), ["is a folder: name the file to write in it, or another file"])
    if target.exists() and not force:
        raise OutputError(str(target), ["exists; replace it with --force (force=True)"])
    _check_writable(target)
    return target


def _named(path: str | Path) -> Path:
    """``path``, refused if empty (an unset shell variable): nothing would be written, silently."""
    if not str(path).strip():
        raise OutputError("--out", ["is empty: name where to write"])
    return Path(path)


def _check_writable(target: Path) -> None:
    """Refuse, before any work, a target whose folder (or the nearest one that exists) this user
    cannot write in: the simulation would run, then fail to keep its results."""
    folder = target.parent  # a file, or a folder renamed into place, is made there
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):  # (a file on the way is said later)
        raise OutputError(str(target), [f"cannot write in {folder}: permission denied"])


def write_file_atomic(path: str | Path, write, *, force: bool = False) -> Path:
    """Write one file through a temporary file beside it, renamed into place: all or nothing.

    ``write(tmp_path)`` writes the content. An existing ``path`` is refused unless ``force``;
    on any error or interruption the temporary file is removed and ``path`` is untouched.

    Raises
    ------
    OutputError
        If ``path`` exists and ``force`` is false, or if it cannot be written.
    """
    target = check_file_target(path, force=force)
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=parent)
        os.close(fd)
        _as_created(Path(tmp), folder=False)
    except OSError as exc:
        raise OutputError(str(target), [_why_not(parent, exc, "cannot write in")]) from None
    try:
        write(Path(tmp))
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(str(target), [f"cannot be put in place: {exc.strerror or exc}"]) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_csv_atomic(frame, path: str | Path, *, force: bool = False) -> Path:
    """Write a table as CSV (UTF-8 with a byte-order mark, for Excel), all or nothing (see
    :func:`write_file_atomic`)."""
    return write_file_atomic(path, lambda tmp: frame.to_csv(tmp, encoding=CSV_ENCODING), force=force)
