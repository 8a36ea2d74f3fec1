"""Reading a built dataset: records of one task and split, and checking its files against the manifest."""
from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from posekit.corpus.splits import SPLITS
from posekit.datasets.config import DatasetError, dataset_dir
from posekit.datasets.records import TASKS, Record, read_jsonl
from posekit.files import read_json

__all__ = ["load_records", "DatasetCheck", "verify_dataset", "sha256_file"]


def _build_hint(name: str, root: str | os.PathLike | None) -> str:
    """How to build the dataset ``name`` (or the one in the folder ``root``)."""
    folder = Path(root) if root is not None else dataset_dir(name)
    named = folder.parent == dataset_dir(name).parent
    command = f"posekit build-data --name {folder.name}" if named else f"posekit build-data --out {folder}"
    if folder.name == "quick" and named:
        command += " --quick"
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "manifest.json").is_file():
        command += " --force"  # the build replaces only posekit datasets: this folder is not one (any more)
    return f"build it with `{command}` (or posekit.datasets.build_dataset)"


def load_records(task: str, split: str, name: str = "default", root: str | os.PathLike | None = None) -> list[Record]:
    """Records of one task and split of a complete dataset (one with its ``manifest.json``).

    Raises ``FileNotFoundError`` (no such dataset or task file) or :class:`DatasetError` (a
    folder without a manifest: an interrupted build), each saying how to build it."""
    if task not in TASKS or split not in SPLITS:
        raise ValueError(f"no task {task!r} with split {split!r}: tasks are {', '.join(TASKS)}; splits "
                         f"{', '.join(SPLITS)}")
    folder = Path(root) if root is not None else dataset_dir(name)
    if folder.is_file():
        raise NotADirectoryError(f"dataset {folder} is a file: pass the dataset's folder (the one holding "
                                 "manifest.json)")
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset {folder} not found: {_build_hint(name, root)}")
    if not (folder / "manifest.json").is_file():
        raise DatasetError(f"{folder} has no manifest.json, so its build never finished (or it is not a posekit "
                           f"dataset); rebuild it: {_build_hint(name, root)}")
    path = folder / task / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found although {folder} has a manifest; {_build_hint(name, root)}")
    stat, manifest_stat = path.stat(), (folder / "manifest.json").stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, manifest_stat.st_size, manifest_stat.st_mtime_ns)
    if key not in _VERIFIED:  # the file posekit opens is the one the build wrote (checked once per version of it)
        try:
            manifest = read_json(folder / "manifest.json", "dataset manifest")
            digest = manifest.get("files", {}).get(f"{task}/{split}.jsonl")
        except (ValueError, AttributeError) as err:
            raise DatasetError(f"{err}; rebuild the dataset: {_build_hint(name, root)}") from None
        if digest is not None and sha256_file(path) != digest:
            raise DatasetError(f"{path} differs from what its manifest records (edited or damaged); rebuild the "
                               f"dataset: {_build_hint(name, root)}")
        _VERIFIED.add(key)
    return read_jsonl(path)


_VERIFIED: set[tuple] = set()
"""Record files whose hash :func:`load_records` has checked, keyed by path, size and modification
time (and the manifest's): a file changed since is hashed again."""


@dataclasses.dataclass(frozen=True)
class DatasetCheck:
    """What :func:`verify_dataset` found."""

    folder: Path
    checked: int
    """Files whose SHA-256 matched the manifest."""
    missing: list[str]
    changed: list[str]
    unverified: list[str]
    """What the manifest cannot vouch for (e.g. images of a dataset built before image hashes)."""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.changed

    def summary(self) -> str:
        if self.ok:
            extra = f"; not verifiable: {', '.join(self.unverified)}" if self.unverified else ""
            return f"{self.folder}: {self.checked} files match the manifest{extra}"
        parts = [f"{len(self.missing)} missing" if self.missing else "", f"{len(self.changed)} changed" if self.changed else ""]
        first = (self.missing + self.changed)[:3]
        return (f"{self.folder}: {', '.join(p for p in parts if p)} file(s) (e.g. {', '.join(first)}); "
                "rebuild the dataset")


def verify_dataset(name: str = "default", root: str | os.PathLike | None = None, progress: bool = False) -> DatasetCheck:
    """Check every file of a dataset against the SHA-256 its manifest records (records and images)."""
    from tqdm.auto import tqdm

    folder = Path(root) if root is not None else dataset_dir(name)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise DatasetError(f"{folder} has no manifest.json, so its build never finished; rebuild it: "
                           f"{_build_hint(name, root)}")
    try:
        manifest = read_json(manifest_path, "dataset manifest")
    except ValueError as err:
        raise DatasetError(f"{err}; rebuild it: {_build_hint(name, root)}") from None
    expected = {**manifest.get("files", {}), **manifest.get("images", {})}
    if not expected:
        raise DatasetError(f"{manifest_path} lists no files, so it vouches for nothing; rebuild the dataset: "
                           f"{_build_hint(name, root)}")
    unverified = [] if "images" in manifest else ["images (the manifest predates image hashes)"]
    missing, changed, checked = [], [], 0
    for rel, digest in tqdm(sorted(expected.items()), desc="verify", disable=not progress):
        path = folder / rel
        if not path.is_file():
            missing.append(rel)
        elif sha256_file(path) != digest:
            changed.append(rel)
        else:
            checked += 1
    return DatasetCheck(folder, checked, missing, changed, unverified)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
