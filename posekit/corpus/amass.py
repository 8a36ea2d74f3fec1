"""A pose corpus from a user's copy of AMASS (and PoseScript's captions where present), in place of
posekit's authored poses: ``posekit build-data --amass PATH`` builds the same task datasets from it.

- Every ``*.npz`` motion file under ``PATH`` (AMASS's ``shape.npz`` subject files are skipped) is read
  in worker processes (:func:`posekit.corpus.formats.load_amass_npz`: z-up turned y-up), one frame
  kept every :attr:`AmassSource.every` seconds.
- Splits are drawn per motion file (a sequence's frames are never in two splits), from a hash of its
  path under ``PATH``: the same file lands in the same split whatever else the folder holds.
- With :attr:`AmassSource.posescript` (a folder with PoseScript's
  ``ids_2_dataset_sequence_and_frame_index.json`` and ``posescript_human_*.json`` /
  ``posescript_auto_*.json``), the frames PoseScript captioned are kept too and their captions are
  used for text2pose and pose2text in place of posekit's captioner.

A pose's ``source`` is its motion file (the path under ``PATH``) and its category the same, so that
an rpe scene puts people from different sequences together. AMASS says what a body does, not why: no
spg records are built and rpe queries name colours, places and sizes only.
"""
from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path

import torch

from posekit.configs import check_field_types
from posekit.corpus.library import PoseEntry
from posekit.corpus.splits import SPLITS, PoseCorpus, SplitConfig
from posekit.corpus.variants import PoseSet, SamplerConfig

__all__ = ["AmassSource", "AmassError", "amass_files", "build_amass_corpus", "AMASS_KIND"]

AMASS_KIND = "amass"
"""The ``kind`` of a pose read from AMASS (authored poses: canonical, perturbed, interpolated)."""
SPLIT_SHARES = (0.8, 0.05, 0.15)
"""train / val / test share of the motion files."""


class AmassError(ValueError):
    """An AMASS folder that cannot be read: no motion files, or a file that is not an AMASS motion file."""


@dataclasses.dataclass(frozen=True)
class AmassSource:
    """Where the poses come from (saved in the dataset's manifest)."""

    path: str
    """A folder of AMASS ``.npz`` motion files (any depth: ``CMU/01/01_01_poses.npz``)."""
    every: float = 1.0
    """Seconds between kept frames (AMASS records at 60-250 frames per second)."""
    posescript: str | None = None
    """A folder with PoseScript's index and caption files, or None."""
    max_files: int = 0
    """Read at most this many motion files (the first in path order; 0: all)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if not self.every > 0:
            raise ValueError(f"AmassSource.every must be > 0 seconds, got {self.every}")
        if self.max_files < 0:
            raise ValueError(f"AmassSource.max_files must be >= 0, got {self.max_files}")


def amass_files(root: str | Path, max_files: int = 0) -> list[Path]:
    """The motion files under ``root`` in path order (``shape.npz`` subject files left out)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise AmassError(f"--amass {root}: no such folder; give the folder that holds AMASS's subsets (CMU/, ...)")
    files = sorted(p for p in root.rglob("*.npz") if p.name != "shape.npz")
    if not files:
        raise AmassError(f"--amass {root}: no .npz motion files under it; is it an AMASS copy (CMU/01/01_01_poses.npz)?")
    return files[:max_files] if max_files else files


def _split_of(name: str, seed: int) -> str:
    """A motion file's split, from a hash of its path under the AMASS folder and the seed."""
    u = zlib.crc32(f"{seed}|{name}".encode()) / 2 ** 32
    return SPLITS[0] if u < SPLIT_SHARES[0] else SPLITS[1] if u < SPLIT_SHARES[0] + SPLIT_SHARES[1] else SPLITS[2]


def _read_motion(job: tuple[str, str, float, tuple[int, ...]]) -> tuple[str, torch.Tensor, list[int]]:
    """Worker: ``(file, name, every, extra frames)`` -> ``(name, poses (n, 24, 3), frame numbers)``;
    a file that is not an AMASS motion file raises :class:`AmassError` naming it."""
    from posekit.corpus.formats import load_amass_npz

    path, name, every, extra = job
    try:
        params = load_amass_npz(path)
    except (ValueError, OSError) as err:
        raise AmassError(f"AMASS file {name}: {err}") from None
    rate = params.meta.get("mocap_framerate")
    if rate is None:
        rate = 60.0  # AMASS's usual rate, for a file that does not say
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise AmassError(f"AMASS file {name}: mocap_framerate must be a number, got {rate!r}") from None
    if not 0 < rate < 10_000:  # 0, negative, NaN or absurd: the frames cannot be spaced in seconds
        raise AmassError(f"AMASS file {name}: mocap_framerate is {rate}, not a frame rate (frames per second > 0); "
                         "fix the file or leave it out")
    step = max(1, int(round(every * rate)))
    frames = sorted(set(range(0, len(params.pose), step)) | {f for f in extra if 0 <= f < len(params.pose)})
    return name, params.pose[frames].clone(), frames


def _posescript_captions(folder: str | Path) -> dict[tuple[str, int], list[str]]:
    """``{(sequence path, frame): captions}`` from a PoseScript folder (human captions first)."""
    from posekit.corpus.formats import load_posescript_captions, load_posescript_index

    folder = Path(folder).expanduser()
    index_file = folder / "ids_2_dataset_sequence_and_frame_index.json"
    if not index_file.is_file():
        raise AmassError(f"--posescript {folder}: no ids_2_dataset_sequence_and_frame_index.json in it")
    index = load_posescript_index(index_file)
    out: dict[tuple[str, int], list[str]] = {}
    for kind in ("human", "auto"):
        for file in sorted(folder.glob(f"posescript_{kind}_*.json")):
            for pose_id, captions in load_posescript_captions(file).items():
                if pose_id in index:
                    _, sequence, frame = index[pose_id]
                    out.setdefault((_sequence_key(sequence), frame), []).extend(captions)
    return out


def _sequence_key(path: str) -> str:
    """A sequence path as PoseScript and the folder walk both can write it: ``CMU/01/01_01_poses.npz``."""
    parts = Path(path).as_posix().strip("/").split("/")
    return "/".join(parts[-3:])


def build_amass_corpus(source: AmassSource, seed: int = 0, workers: int = 1, progress: bool = False) -> PoseCorpus:
    """The corpus of ``source``'s kept frames, split by motion file (see the module docstring);
    ``workers``: processes that read the files (a script that uses more than one must guard its
    entry point with ``if __name__ == "__main__":``, as every "spawn" start needs)."""
    from tqdm.auto import tqdm

    root = Path(source.path).expanduser()
    files = amass_files(root, source.max_files)
    captions = _posescript_captions(source.posescript) if source.posescript else {}
    wanted: dict[str, set[int]] = {}
    for sequence, frame in captions:
        wanted.setdefault(sequence, set()).add(frame)
    names = [p.relative_to(root).as_posix() for p in files]
    jobs = [(str(p), n, source.every, tuple(sorted(wanted.get(_sequence_key(n), ())))) for p, n in zip(files, names)]
    bar = tqdm(total=len(jobs), desc="AMASS files", disable=not progress)
    read = []
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
            for result in pool.map(_read_motion, jobs, chunksize=8):
                read.append(result)
                bar.update()
    else:
        for job in jobs:
            read.append(_read_motion(job))
            bar.update()
    bar.close()
    poses, sources, split, test_kind, texts, entries = [], [], [], [], [], {}
    for name, pose, frames in read:
        part = _split_of(name, seed)
        entries[name] = PoseEntry(name=name, angles={}, category=name, tags=(AMASS_KIND,))
        poses.append(pose)
        sources += [name] * len(pose)
        split += [part] * len(pose)
        test_kind += ["unseen sequence" if part == "test" else ""] * len(pose)
        texts += [tuple(captions.get((_sequence_key(name), f), ())) for f in frames]
    pose = torch.cat(poses) if poses else torch.zeros(0, 24, 3)
    n = len(pose)
    if not n:
        raise AmassError(f"--amass {root}: its motion files hold no frames")
    if not {"train", "test"} <= set(split):
        raise AmassError(f"--amass {root}: {len(files)} motion file(s) cannot fill a train and a test split "
                         "(they are split by file: give a folder with more sequences)")
    poses_set = PoseSet(pose, tuple(sources), ("",) * n, (AMASS_KIND,) * n, torch.zeros(n, dtype=torch.bool))
    return PoseCorpus(poses_set, tuple(split), tuple(test_kind), entries, seed, SamplerConfig(), SplitConfig(),
                      captions=tuple(texts))
