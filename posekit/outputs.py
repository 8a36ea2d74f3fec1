"""Which files posekit wrote, so that nothing a user put in a folder is ever replaced or deleted.

Every folder posekit writes into carries a marker, :data:`MARKER` (``posekit-output.json``), naming
the commands that wrote there, posekit's version and the entries they wrote (top-level names: a
file, or a folder and everything under it). posekit replaces a file, or a whole folder, only when
the marker lists it; anything else is the user's and refused in one line before any work starts,
unless ``force`` (``--force``). Files a user put beside posekit's are never touched.

- :class:`OutputFolder`: a command that writes files into a folder (``chat --out``, ``photo --out``,
  ``train --out``, ``report``, the side files of ``train-decoder``);
- :func:`check_replaceable` then :func:`keep_user_files`: a command that replaces a whole folder
  (``build-data``, ``export``, a checkpoint's save): the user's files in it are carried over.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from posekit.files import NotOwnedError, atomic_path

__all__ = ["MARKER", "NotOwnedError", "OutputFolder", "read_fields", "written_entries", "owns_folder", "mark",
           "check_replaceable", "keep_user_files", "copy_marker"]

MARKER = "posekit-output.json"
"""The file in each folder posekit writes into that lists what posekit wrote there."""


def _entry(name: str | os.PathLike) -> str:
    """The top-level entry a relative path lies in (``checkpoints/step_10.pt`` -> ``checkpoints``)."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise ValueError(f"{name!r} is not a path inside the output folder")
    return parts[0]


def read_fields(path: str | os.PathLike) -> dict:
    """The JSON object in the file ``path``; ``{}`` when it is missing, unreadable or not an object (what
    the marker and the checks that recognise folders written before markers read)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def written_entries(folder: str | os.PathLike) -> set[str] | None:
    """The entries the marker of ``folder`` lists as posekit's; None when it has no (readable) marker."""
    data = read_fields(Path(folder) / MARKER)
    entries = data.get("entries")
    if data.get("written_by") != "posekit" or not isinstance(entries, list):
        return None
    return {e for e in entries if isinstance(e, str)}


def owns_folder(folder: str | os.PathLike, legacy: Callable[[Path], bool] | None = None) -> bool:
    """Whether posekit wrote ``folder``: its marker, or ``legacy(folder)`` (a folder written before
    markers, recognised by its content, e.g. a checkpoint's ``config.json`` holding posekit's fields)."""
    folder = Path(folder)
    return written_entries(folder) is not None or (legacy is not None and folder.is_dir() and legacy(folder))


def mark(folder: str | os.PathLike, command: str, entries: Iterable[str | os.PathLike]) -> None:
    """Add ``entries`` (relative names) to the marker of ``folder`` as written by ``command``."""
    import posekit

    folder = Path(folder)
    known = written_entries(folder) or set()
    commands = read_fields(folder / MARKER).get("commands")
    commands = [c for c in commands if isinstance(c, str) and c != command] if isinstance(commands, list) else []
    commands.append(command)
    data = {"written_by": "posekit", "version": posekit.__version__, "commands": commands,
            "entries": sorted(known | {_entry(e) for e in entries} - {MARKER}),
            "about": "posekit replaces only the entries listed here; every other file in this folder is left alone"}
    with atomic_path(folder / MARKER) as tmp:
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")


def copy_marker(old: str | os.PathLike, new: str | os.PathLike) -> None:
    """Carry the marker of a folder being replaced (``old``) into its replacement ``new``, so that what
    other commands wrote there stays listed as posekit's."""
    if written_entries(old) is not None:
        shutil.copy2(Path(old) / MARKER, Path(new) / MARKER)


def check_replaceable(path: str | os.PathLike, force: bool = False, legacy: Callable[[Path], bool] | None = None,
                      what: str = "folder", names: Iterable[str] = ()) -> None:
    """Refuse (:class:`NotOwnedError`, one line) to replace the folder ``path`` unless it is missing,
    empty, posekit's (:func:`owns_folder`), or ``force`` is set; and, in a folder posekit wrote, when
    an entry the new folder will hold (``names``) is there but not listed as posekit's (a user's file
    of that name, which :func:`keep_user_files` could not carry over). A file where a folder is to go
    is never posekit's. Called before any work, so that a refusal costs nothing."""
    path = Path(path)
    if force or (not path.exists() and not path.is_symlink()):
        return
    if not path.is_dir():
        raise NotOwnedError(f"{path} is a file, not a {what} that posekit wrote; pass another path, or remove the "
                            "file yourself (posekit never replaces what it did not write)")
    if not any(path.iterdir()):
        return
    if not owns_folder(path, legacy):
        raise NotOwnedError(f"{path} holds files but no {MARKER}, so posekit did not write it; pass a new or empty "
                            "folder, or --force (force=True) to replace it and everything in it")
    listed = written_entries(path)
    clashes = [n for n in names if listed is not None and n not in listed and (path / n).exists()]
    if clashes:
        raise NotOwnedError(f"{path} holds {', '.join(clashes)}, which posekit did not write there (no {MARKER} lists "
                            "them) and would replace; move them away, or --force")


def keep_user_files(old: str | os.PathLike, new: str | os.PathLike) -> list[str]:
    """Copy into ``new`` every entry of the folder ``old`` that its marker does not list (the user's:
    byte for byte, times kept); the names copied. :class:`NotOwnedError` when ``new`` holds an entry
    of the same name. A folder without a marker (a legacy folder) is taken as posekit's whole."""
    old, new = Path(old), Path(new)
    listed = written_entries(old)
    if listed is None or not old.is_dir():
        return []
    kept = []
    for entry in sorted(old.iterdir()):
        if entry.name in listed or entry.name == MARKER:
            continue
        if (new / entry.name).exists():  # check_replaceable(names=...) refuses this before the work
            raise NotOwnedError(f"{entry} is not posekit's and the new folder has an entry of that name: move it "
                                "away, or --force")
        (shutil.copytree if entry.is_dir() and not entry.is_symlink() else shutil.copy2)(entry, new / entry.name)
        kept.append(entry.name)
    return kept


class OutputFolder:
    """A folder a command writes files into, without touching any file it did not write.

    Built before the command's work: the folder is created if missing, and every file the command
    will write (``names``, and the glob ``patterns`` of numbered ones such as ``pose_*.npz``) that is
    already there must be listed in the folder's marker, else :class:`NotOwnedError` says which (unless
    ``force``). ``legacy(folder)``: recognises a folder posekit wrote before markers (then marked as
    posekit's whole). :meth:`path` checks a name again when it is written; :meth:`record` lists it."""

    def __init__(self, path: str | os.PathLike, command: str, names: Iterable[str] = (),
                 patterns: Iterable[str] = (), force: bool = False, legacy: Callable[[Path], bool] | None = None):
        self.root, self.command, self.force = Path(path), command, force
        if legacy is not None and written_entries(self.root) is None and self.root.is_dir() and legacy(self.root):
            mark(self.root, command, [p.name for p in self.root.iterdir()])  # written before markers: posekit's whole
        if self.root.exists() and not self.root.is_dir():
            raise NotOwnedError(f"{self.root} is a file, not a folder: pass a folder for the output (--out)")
        clashes = [n for n in names if self._clash(n)]
        if self.root.is_dir():
            clashes += sorted(p.name for pattern in patterns for p in self.root.glob(pattern) if self._clash(p.name))
        if clashes:
            raise NotOwnedError(f"{self.root} already holds {', '.join(dict.fromkeys(clashes))}, which posekit did not "
                                f"write there (no {MARKER} lists them); pass a new or empty folder, or --force to "
                                "replace them")
        self.root.mkdir(parents=True, exist_ok=True)

    def _clash(self, name: str) -> bool:
        if self.force or not (self.root / name).exists():
            return False
        return _entry(name) not in (written_entries(self.root) or set())

    def path(self, name: str) -> Path:
        """Where the file ``name`` (relative) goes; :class:`NotOwnedError` when a file of that name is
        there and posekit did not write it (one appeared since the command started)."""
        if self._clash(name):
            raise NotOwnedError(f"{self.root / name} appeared and posekit did not write it: it is left alone; "
                                "pass another folder")
        return self.root / name

    def record(self, *names: str | os.PathLike) -> None:
        """List ``names`` as written by this command in the folder's marker."""
        mark(self.root, self.command, [Path(n).relative_to(self.root) if Path(n).is_absolute() else n
                                       for n in names])
