"""Task datasets built from posekit's pose corpus: text2pose, pose2text, spg, image2pose, rpe,
edit and chat conversations (see :mod:`posekit.datasets.records` for the record format).

``build_dataset`` is deterministic for a :class:`DatasetConfig` (seed included): the same
config rebuilds byte-identical JSONL files, whose SHA-256 the manifest records. Output
(generated, git-ignored) goes to ``data/generated/<name>/``::

    manifest.json                 config, versions, counts per task and split, file hashes
    <task>/<split>.jsonl          conversation records
    images/<task>/<id>.png        rendered images (image2pose, rpe)

Targets: text tasks use the pose with its heading removed (PoseScript normalisation);
image tasks use the global orientation in the camera frame (:func:`posekit.corpus.scenes.camera_frame_pose`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from pathlib import Path

import torch

from posekit.body.model import load_body_model
from posekit.corpus.amass import AmassSource, amass_files, build_amass_corpus
from posekit.corpus.splits import SPLITS, build_pose_corpus
from posekit.datasets.config import DatasetConfig, dataset_dir
from posekit.datasets.records import TASKS, write_jsonl
from posekit.datasets.store import sha256_file
from posekit.datasets.tasks import TaskBuilder, load_spg_descriptions
from posekit.files import atomic_dir, read_json
from posekit.outputs import check_replaceable, keep_user_files, mark, read_fields
from posekit.language import LANGUAGE_VERSION

__all__ = ["build_dataset", "ensure_dataset"]


def build_dataset(config: DatasetConfig = DatasetConfig(), out_dir: str | os.PathLike | None = None, body=None,
                  progress: bool = True, workers: int = 1, force: bool = False, amass: AmassSource | None = None) -> dict:
    """Build every task dataset; returns the manifest (also written to ``manifest.json``, with the
    SHA-256 of every record file and image: :func:`verify_dataset`).

    The dataset is built in a temporary folder next to the target and takes its place in one
    rename at the end: an interrupted build (Ctrl-C, a crash) leaves the previous dataset as it
    was, or no folder at all. ``workers``: processes that render the images (the dataset's bytes
    do not depend on it; :func:`default_workers` is one per core). More than one needs the
    calling script to guard its entry point (``if __name__ == "__main__":``), as every
    ``multiprocessing`` "spawn" start does; without it rendering falls back to this process.
    An existing ``out_dir`` is replaced only if posekit wrote it (:func:`posekit.outputs.check_replaceable`)
    or it is empty, unless ``force``: a folder of a user's files is never deleted by mistake, and the
    files a user put beside a posekit dataset are carried into the new one.

    ``amass``: build from a user's AMASS copy (and PoseScript's captions) instead of posekit's
    authored poses (:mod:`posekit.corpus.amass`; its files read in ``workers`` processes too): the
    same tasks but spg, which needs situations AMASS does not have."""

    final = Path(out_dir) if out_dir is not None else dataset_dir(config.name)
    if amass is not None:
        amass_files(amass.path, amass.max_files)  # a wrong folder fails before anything is replaced
    check_replaceable(final, force, legacy=is_dataset_folder, what="dataset folder",  # before any work
                      names=(*TASKS, "images", "manifest.json"))
    with atomic_dir(final) as tmp:  # an interrupted build leaves the old folder
        manifest = _build_into(config, tmp, body, progress, workers, amass)
        mark(tmp, "build-data", [p.name for p in tmp.iterdir()])
        if not force:
            keep_user_files(final, tmp)  # what a user put in the dataset folder stays
        return manifest


def is_dataset_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a dataset posekit built before folders carried :data:`posekit.outputs.MARKER`:
    its ``manifest.json`` is posekit's (its version, counts and file digests), not only a file of that name."""
    return {"posekit", "counts", "files", "config"} <= set(read_fields(Path(folder) / "manifest.json"))


def _build_into(config: DatasetConfig, out: Path, body, progress: bool, workers: int, amass: AmassSource | None) -> dict:
    import posekit

    start = time.time()
    body = body or load_body_model()
    torch.manual_seed(config.seed)
    if amass is None:
        corpus = build_pose_corpus(body, seed=config.seed, sampler=config.sampler, splits=config.splits,
                                   progress=progress)
        spg = load_spg_descriptions()
        missing = set(corpus.entries) - set(spg)
        if missing:
            raise ValueError(f"canonical poses without SPG descriptions: {sorted(missing)}; add them to "
                             "data/spg/descriptions.json")
    else:  # no situations, no actions: no spg records, rpe queries by colour, place and size
        corpus = build_amass_corpus(amass, seed=config.seed, workers=workers, progress=progress)
        spg = {name: {"who": "", "descriptions": []} for name in corpus.entries}
    builder = TaskBuilder(config, body, out, progress, workers)
    with torch.no_grad():
        builder.text_tasks(corpus)
        if amass is None:
            builder.spg(corpus, spg)
        builder.images(corpus, spg)
    files, counts = {}, {}
    for task, records in builder.records.items():
        for split in SPLITS:
            chosen = [r for r in records if r.split == split]
            path = write_jsonl(chosen, out / task / f"{split}.jsonl")
            files[f"{task}/{split}.jsonl"] = sha256_file(path)
            counts.setdefault(task, {})[split] = len(chosen)
    images = {r.image: sha256_file(out / r.image) for records in builder.records.values() for r in records if r.image}
    frame = corpus.to_frame()
    manifest = {
        "name": config.name, "config": config.to_dict(), "posekit": posekit.__version__, "torch": torch.__version__,
        "language": LANGUAGE_VERSION,
        "counts": counts, "files": files, "images": images,
        "corpus": {"poses": len(corpus), "canonical": len(corpus.entries),
                   "split": dict(Counter(corpus.split)), "test_kind": dict(Counter(t for t in corpus.test_kind if t)),
                   "kinds": dict(Counter(frame.kind))},
        "build_seconds": round(time.time() - start, 1),
    }
    if amass is not None:
        manifest["source"] = {"amass": dataclasses.asdict(amass),
                              "human_captions": sum(bool(c) for c in corpus.captions)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def ensure_dataset(config: DatasetConfig, body=None, progress: bool = False, workers: int = 1) -> Path:
    """The folder of ``config``'s dataset, built first unless a manifest with the same config
    and the same caption rules (:data:`posekit.language.LANGUAGE_VERSION`) is there."""
    root = dataset_dir(config.name)
    manifest = root / "manifest.json"
    if manifest.is_file():
        try:
            stored = read_json(manifest, "dataset manifest")
        except ValueError:  # damaged: posekit's own folder, built again
            stored = {}
        if (stored.get("config") == json.loads(json.dumps(config.to_dict()))
                and stored.get("language") == LANGUAGE_VERSION):
            return root
    build_dataset(config, out_dir=root, body=body, progress=progress, workers=workers)
    return root
