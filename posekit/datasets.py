"""Task datasets built from posekit's pose corpus: text2pose, pose2text, spg, image2pose, rpe,
edit and chat conversations (see :mod:`posekit.conversations` for the record format).

``build_dataset`` is deterministic for a :class:`DatasetConfig` (seed included): the same
config rebuilds byte-identical JSONL files, whose SHA-256 the manifest records. Output
(generated, git-ignored) goes to ``data/generated/<name>/``::

    manifest.json                 config, versions, counts per task and split, file hashes
    <task>/<split>.jsonl          conversation records
    images/<task>/<id>.png        rendered images (image2pose, rpe)

Targets: text tasks use the pose with its heading removed (PoseScript normalisation);
image tasks use the global orientation in the camera frame (:func:`posekit.scenes.camera_frame_pose`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from posekit.conversations import (
    EDIT_REQUESTS, IMAGE_REQUESTS, IMAGE_TOKEN, POSE2TEXT_REQUESTS, POSE_ANSWERS, POSE_IN_TOKEN, POSE_TOKEN,
    INSTRUCTION_REQUESTS, RPE_REQUESTS, SPG_REQUESTS, SYSTEM_PROMPT, TASKS, TEXT2POSE_REQUESTS, Record, pose_list,
    read_jsonl, write_jsonl,
)
from posekit.corpus import SPLITS, PoseCorpus, SplitConfig, build_pose_corpus
from posekit.language import LANGUAGE_VERSION, PREDICATES, Captioner, compute_posecodes, instruct
from posekit.paths import data_dir, resolve_file
from posekit.pose import remove_yaw
from posekit.sampler import SamplerConfig
from posekit.scenes import build_scene, camera_frame_pose, make_queries, render_scene

__all__ = ["DatasetConfig", "build_dataset", "ensure_dataset", "load_records", "dataset_dir", "load_spg_descriptions",
           "chat_turns", "describe_then_pose", "recaptioned", "extra_edit_pairs", "RECAPTION_STYLES", "INSTRUCTION_START", "verify_dataset",
           "DatasetCheck", "DatasetError", "default_workers", "SceneRenderer"]


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """What to build. ``scale`` multiplies every count (GPU users: 5-20)."""

    name: str = "default"
    seed: int = 0
    scale: float = 1.0
    captions_per_pose: int = 2
    """text2pose records per corpus pose."""
    multi_pose_share: float = 0.1
    """Share of text2pose records that ask for two poses in one answer."""
    pose2text_per_pose: int = 1
    spg_targets_per_description: int = 2
    """Poses (the canonical one and variants of it) paired with each implicit description."""
    spg_test_description_share: float = 0.2
    """Descriptions of training poses held out for test."""
    image2pose_count: int = 4000
    """Single-person renders (about 70 % train): images are the scarcest data and cheap to render."""
    rpe_scenes: int = 3000
    """Multi-person scenes with a query (about 2,100 train, 600 test): enough that rpe numbers are not noise."""
    image2pose_train_extra: int = 8000
    """More single-person renders, all in the training split, drawn after everything else (so
    every other record, and every val and test record, is the same as without them): a decoder
    on the frozen image features trains better on more renders (measured in
    ``data/experiments/decoder_designs/README.md``, design H)."""
    edit_pairs: int = 1500
    chat_count: int = 800
    image_size: int = 224
    sampler: SamplerConfig = SamplerConfig()
    splits: SplitConfig = SplitConfig()

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")
        if self.image2pose_train_extra < 0:
            raise ValueError(f"image2pose_train_extra must be >= 0, got {self.image2pose_train_extra}")
        if not 0 <= self.multi_pose_share <= 1 or not 0 <= self.spg_test_description_share < 1:
            raise ValueError("multi_pose_share must be in [0, 1] and spg_test_description_share in [0, 1)")

    @staticmethod
    def quick(name: str = "quick", seed: int = 0) -> "DatasetConfig":
        """A small dataset for notebooks and CI (about a minute on 2 cores)."""
        return DatasetConfig(name=name, seed=seed, scale=0.08, captions_per_pose=1, image2pose_count=2500, rpe_scenes=400,
                             image2pose_train_extra=0,
                             sampler=SamplerConfig(candidates_per_pose=12, keep_per_pose=4))

    def count(self, n: int) -> int:
        return max(1, int(round(n * self.scale)))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def dataset_dir(name: str = "default") -> Path:
    """``data/generated/<name>`` (``$POSEKIT_DATA/generated/<name>``)."""
    return data_dir() / "generated" / name


def load_spg_descriptions() -> dict[str, dict]:
    """``{canonical pose: {"who": str, "descriptions": [str, ...]}}`` (``data/spg/descriptions.json``)."""
    file = resolve_file("descriptions.json", defaults=(data_dir() / "spg",), what="SPG descriptions")
    return {k: v for k, v in json.loads(Path(file).read_text()).items() if not k.startswith("_")}


class DatasetError(ValueError):
    """A dataset folder is incomplete (no manifest: an interrupted build) or differs from its manifest."""


def _build_hint(name: str, root: str | os.PathLike | None) -> str:
    """How to build the dataset ``name`` (or the one in the folder ``root``)."""
    folder = Path(root) if root is not None else dataset_dir(name)
    named = folder.parent == dataset_dir(name).parent
    command = f"posekit build-data --name {folder.name}" if named else f"posekit build-data --out {folder}"
    if folder.name == "quick" and named:
        command += " --quick"
    return f"build it with `{command}` (or posekit.datasets.build_dataset)"


def load_records(task: str, split: str, name: str = "default", root: str | os.PathLike | None = None) -> list[Record]:
    """Records of one task and split of a complete dataset (one with its ``manifest.json``).

    Raises ``FileNotFoundError`` (no such dataset or task file) or :class:`DatasetError` (a
    folder without a manifest: an interrupted build), each saying how to build it."""
    folder = Path(root) if root is not None else dataset_dir(name)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset {folder} not found: {_build_hint(name, root)}")
    if not (folder / "manifest.json").is_file():
        raise DatasetError(f"{folder} has no manifest.json, so its build never finished (or it is not a posekit "
                           f"dataset); rebuild it: {_build_hint(name, root)}")
    path = folder / task / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found although {folder} has a manifest; {_build_hint(name, root)}")
    return read_jsonl(path)


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
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{manifest_path} is not valid JSON ({err}); rebuild it: {_build_hint(name, root)}") from None
    expected = {**manifest.get("files", {}), **manifest.get("images", {})}
    unverified = [] if "images" in manifest else ["images (the manifest predates image hashes)"]
    missing, changed, checked = [], [], 0
    for rel, digest in tqdm(sorted(expected.items()), desc="verify", disable=not progress):
        path = folder / rel
        if not path.is_file():
            missing.append(rel)
        elif _sha256(path) != digest:
            changed.append(rel)
        else:
            checked += 1
    return DatasetCheck(folder, checked, missing, changed, unverified)


def describe_then_pose(records: list[Record], body=None, batch_size: int = 512) -> list[Record]:
    """"Describe, then pose": the same records, with every assistant turn that writes ``<POSE>``
    first stating the posecode description of its target pose(s) (posekit's captioner in
    deterministic mode, so one pose always gets the same wording), e.g.
    ``"Sure, here it is: <POSE>."`` -> ``"Their arms are raised ... Sure, here it is: <POSE>."``.
    Several poses in one turn are described in order (``"Pose 1: ... Pose 2: ..."``). Records
    without target poses are returned unchanged; changed ones get ``meta["described"] = True``."""
    from posekit.body import load_body_model

    targets = [r for r in records if r.target_poses]
    if not targets:
        return list(records)
    body = body or load_body_model()
    captioner = Captioner()
    poses = torch.cat([r.targets() for r in targets])  # (P, 24, 3), records in order
    captions = []
    with torch.no_grad():
        for start in range(0, len(poses), batch_size):
            chunk = poses[start:start + batch_size]
            out = body(chunk[:, 0], chunk[:, 1:], joints_only=True)
            captions += captioner(out.joints, out.rotmats, seed=None)
    out_records, k = [], 0
    for record in records:
        if not record.target_poses:
            out_records.append(record)
            continue
        messages = []
        for message in record.messages:
            count = message["content"].count(POSE_TOKEN) if message["role"] == "assistant" else 0
            if count:
                texts = captions[k:k + count]
                k += count
                stated = texts[0] if count == 1 else " ".join(f"Pose {j + 1}: {t}" for j, t in enumerate(texts))
                message = {**message, "content": f"{stated} {message['content']}"}
            messages.append(message)
        out_records.append(dataclasses.replace(record, messages=messages, meta={**record.meta, "described": True}))
    return out_records


RECAPTION_STYLES = ("caption", "instruction")
"""How :func:`recaptioned` words a pose: the captioner's description, or the instruction that
takes a person there from standing (:func:`posekit.language.pose_instructions`)."""


def recaptioned(records: list[Record], draws: int, seed: int = 0, body=None, batch_size: int = 4096,
                max_facts: int | None = None, style: str = "caption") -> list[Record]:
    """``draws`` new text2pose records for every distinct single target pose of ``records``:
    the same pose under other caption draws of the captioner, wrapped in the dataset's request
    and answer templates (PoseScript's several automatic captions per pose, as training
    augmentation that leaves the dataset, its splits and its test records unchanged).

    Only single-pose text2pose records are used; each new record keeps its source's split and
    id with ``-draw<k>`` appended. Captions are seeded from ``seed`` (use seeds other than the
    dataset's own so the draws differ from the stored captions). ``max_facts``: short captions
    that state at most this many facts, picked at random (essential ones first).

    ``style="instruction"``: instead of a description, the short imperative that takes a
    person from standing into the pose, with 1 to 4 changes ("Kneel down on both knees, then
    lean forward."), wrapped in :data:`~posekit.conversations.INSTRUCTION_REQUESTS` (mostly
    bare, as a person types it): what people type to the chat, which the captioner never
    writes (:func:`posekit.language.pose_instructions`)."""
    from posekit.body import load_body_model
    from posekit.language import CaptionConfig, InstructionConfig, pose_instructions
    from posekit.poselib import library_params, load_pose_library

    if draws < 0:
        raise ValueError(f"draws must be >= 0, got {draws}")
    if style not in RECAPTION_STYLES:
        raise ValueError(f"style must be one of {RECAPTION_STYLES}, got {style!r}")
    if style == "instruction" and max_facts is not None:
        raise ValueError("max_facts shortens captions; instructions have 1 to 4 changes already")
    sources = [r for r in records if r.task == "text2pose" and r.target_poses and len(r.target_poses) == 1]
    unique: dict[bytes, Record] = {}
    for record in sources:
        unique.setdefault(np.asarray(record.target_poses[0], dtype=np.float32).tobytes(), record)
    if not draws or not unique:
        return []
    body = body or load_body_model()
    picked = list(unique.values())
    poses = torch.cat([r.targets() for r in picked]).float()  # (P, 24, 3)
    captioner = Captioner() if max_facts is None else Captioner(CaptionConfig(max_facts=max_facts, shuffle_facts=True))
    rng = np.random.default_rng(seed)
    if style == "instruction":
        standing = body(*library_params([INSTRUCTION_START], load_pose_library("canonical")), joints_only=True)
        changes = rng.integers(1, 5, size=(draws, len(picked)))  # (draws, P) changes said per instruction
    out: list[Record] = []
    with torch.no_grad():
        captions = [[] for _ in range(draws)]
        for start in range(0, len(poses), batch_size):
            chunk = poses[start:start + batch_size]
            result = body(chunk[:, 0], chunk[:, 1:], joints_only=True)
            for k in range(draws):
                draw_seed = seed * 1000 + k * 7919 + start
                if style == "instruction":
                    said = changes[k, start:start + len(chunk)]
                    texts = {n: pose_instructions(standing.joints[0], result.joints, standing.rotmats[0], result.rotmats,
                                                  draw_seed, InstructionConfig(max_changes=n)) for n in set(said.tolist())}
                    captions[k] += [texts[n][i] for i, n in enumerate(said.tolist())]
                    continue
                codes = compute_posecodes(result.joints, result.rotmats,
                                          generator=torch.Generator().manual_seed(draw_seed))
                captions[k] += captioner.from_posecodes(codes, draw_seed)
    templates = INSTRUCTION_REQUESTS if style == "instruction" else TEXT2POSE_REQUESTS
    for k in range(draws):
        for record, text in zip(picked, captions[k]):
            request = templates[int(rng.integers(len(templates)))].format(text=text)
            answer = POSE_ANSWERS[int(rng.integers(len(POSE_ANSWERS)))].format(pose=POSE_TOKEN)
            if style == "instruction":
                tag = f"instruction-draw{k}"
            else:
                tag = f"draw{k}" if max_facts is None else f"brief{max_facts}-draw{k}"
            out.append(Record(id=f"{record.id}-{tag}", task="text2pose", split=record.split,
                              messages=[_system(), {"role": "user", "content": request},
                                        {"role": "assistant", "content": answer}],
                              target_poses=record.target_poses,
                              meta={**{key: record.meta[key] for key in ("source", "kind") if key in record.meta},
                                    "caption": text, "draw": k, **({"style": style} if style != "caption" else {})}))
    return out


def extra_edit_pairs(records: list[Record], draws: int, seed: int = 0, body=None,
                     same_source_share: float = 0.6, batch_size: int = 4096) -> list[Record]:
    """``draws`` new edit records for every edit record of ``records``: its input pose taken to
    another pose of ``records`` (a variant of the same source pose with probability
    ``same_source_share``, as the dataset draws its pairs, else any pose of the same split; the
    pool is the poses of the edit and single-pose text2pose records), with PoseFix's automatic
    instruction for the pair (:func:`posekit.language.instruct`) in the dataset's edit templates.
    Training augmentation like :func:`recaptioned`: the dataset, its splits and its test records
    stay as they are. Each new record keeps its source's split and id with ``-pair<k>`` appended;
    pairs whose instruction would be "Keep the same pose." are left out."""
    from posekit.body import load_body_model

    if draws < 0:
        raise ValueError(f"draws must be >= 0, got {draws}")
    if not 0 <= same_source_share <= 1:
        raise ValueError(f"same_source_share must be in [0, 1], got {same_source_share}")
    edits = [r for r in records if r.task == "edit" and r.input_poses and r.target_poses]
    if not draws or not edits:
        return []
    def key(pose) -> bytes:
        return np.asarray(pose, dtype=np.float32).tobytes()
    pools: dict[str, dict[bytes, tuple]] = {}  # split -> {pose bytes: (pose, source)}
    for r in records:
        if r.task == "edit" and r.input_poses and r.target_poses:
            found = [(r.input_poses[-1], r.meta.get("source_a")), (r.target_poses[0], r.meta.get("source_b"))]
        elif r.task == "text2pose" and r.target_poses and len(r.target_poses) == 1:
            found = [(r.target_poses[0], r.meta.get("source"))]
        else:
            continue
        for pose, source in found:
            pools.setdefault(r.split, {}).setdefault(key(pose), (pose, source))
    pool_list = {split: list(entries.values()) for split, entries in pools.items()}
    by_source: dict[tuple, list[tuple[int, bytes]]] = {}  # (split, source) -> [(pool index, pose bytes)]
    for split, entries in pools.items():
        for i, (pose_key, (_, source)) in enumerate(entries.items()):
            by_source.setdefault((split, source), []).append((i, pose_key))
    # per edit record: the pool's other poses of its own source pose (the same for every draw)
    same_source = [[i for i, pose_key in by_source.get((r.split, r.meta.get("source_a")), [])
                    if pose_key != key(r.input_poses[-1])] for r in edits]
    rng = np.random.default_rng(seed)
    pairs = []  # (edit record, draw, target pose, target source)
    for k in range(draws):
        for r, same in zip(edits, same_source):
            entries = pool_list[r.split]
            if same and rng.random() < same_source_share:
                i = int(rng.choice(same))
            else:
                i = int(rng.integers(len(entries)))
            pairs.append((r, k, *entries[i]))
    body = body or load_body_model()
    poses_a = torch.tensor([r.input_poses[-1] for r, *_ in pairs], dtype=torch.float32)  # (N, 24, 3)
    poses_b = torch.tensor([pose for _, _, pose, _ in pairs], dtype=torch.float32)  # (N, 24, 3)
    texts = []
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            a = body(poses_a[start:start + batch_size, 0], poses_a[start:start + batch_size, 1:], joints_only=True)
            b = body(poses_b[start:start + batch_size, 0], poses_b[start:start + batch_size, 1:], joints_only=True)
            texts += instruct(a.joints, b.joints, a.rotmats, b.rotmats, seed=seed * 1000 + start)
    out = []
    for (r, k, pose, source), text in zip(pairs, texts):
        if text == "Keep the same pose.":
            continue
        request = EDIT_REQUESTS[int(rng.integers(len(EDIT_REQUESTS)))].format(pose_in=POSE_IN_TOKEN, text=text)
        answer = POSE_ANSWERS[int(rng.integers(len(POSE_ANSWERS)))].format(pose=POSE_TOKEN)
        out.append(Record(id=f"{r.id}-pair{k}", task="edit", split=r.split,
                          messages=[_system(), {"role": "user", "content": request}, {"role": "assistant", "content": answer}],
                          input_poses=r.input_poses, target_poses=[pose],
                          meta={"source_a": r.meta.get("source_a"), "source_b": source, "instruction": text, "draw": k}))
    return out


INSTRUCTION_START = "standing"
"""The canonical pose (``data/poses/canonical.json``) that instruction-style requests start
from: standing, arms relaxed by the sides, no posecode but the feet on the ground."""


def _system() -> dict:
    return {"role": "system", "content": SYSTEM_PROMPT}


def _normalised(pose: torch.Tensor) -> torch.Tensor:
    """Pose ``(N, 24, 3)`` with the heading removed from the global orientation."""
    out = pose.clone()
    out[:, 0] = remove_yaw(pose[:, 0])
    return out


class _Builder:
    def __init__(self, config: DatasetConfig, body, out_dir: Path, progress: bool, workers: int = 1):
        self.config, self.body, self.out, self.progress, self.workers = config, body, out_dir, progress, workers
        self.rng = np.random.default_rng(config.seed)
        self._pending = Counter()  # images drawn but not yet recorded, per task (record ids count them)
        self.records: dict[str, list[Record]] = {t: [] for t in TASKS}
        self.captioner = Captioner()

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def add(self, task: str, split: str, **kwargs) -> Record:
        record = Record(id=f"{task}-{split}-{len(self.records[task]):06d}", task=task, split=split, **kwargs)
        self.records[task].append(record)
        return record

    # --- pose-only tasks --------------------------------------------------------------------
    def text_tasks(self, corpus: PoseCorpus) -> None:
        poses = _normalised(corpus.poses.pose)
        out = self.body(poses[:, 0], poses[:, 1:], joints_only=True)
        cfg = self.config
        n = len(poses)
        order = self.rng.permutation(n)
        for k in range(cfg.captions_per_pose):
            seed = cfg.seed * 100 + k
            codes = compute_posecodes(out.joints, out.rotmats, generator=torch.Generator().manual_seed(seed))
            captions, stated = self.captioner.with_facts(codes, seed)
            for i in order:
                split = corpus.split[i]
                if self.rng.random() < cfg.multi_pose_share:
                    j = int(self.rng.choice([t for t in self.pool(corpus, split) if t != i]))
                    text = f"Give two poses. First: {captions[i]} Second: {captions[j]}"
                    answer = f"Sure: {POSE_TOKEN} and {POSE_TOKEN}."
                    self.add("text2pose", split, messages=[_system(), {"role": "user", "content": text},
                                                           {"role": "assistant", "content": answer}],
                             target_poses=[pose_list(poses[i]), pose_list(poses[j])],
                             meta={"sources": [corpus.poses.source[i], corpus.poses.source[j]], "multi": True,
                                   "captions": [captions[i], captions[j]]})
                    continue
                request = self.pick(TEXT2POSE_REQUESTS).format(text=captions[i])
                answer = self.pick(POSE_ANSWERS).format(pose=POSE_TOKEN)
                self.add("text2pose", split, messages=[_system(), {"role": "user", "content": request},
                                                       {"role": "assistant", "content": answer}],
                         target_poses=[pose_list(poses[i])], meta={"source": corpus.poses.source[i],
                                                                    "kind": corpus.poses.kind[i], "posecodes": stated[i],
                                                                    "caption": captions[i]})
        for k in range(cfg.pose2text_per_pose):
            self.pose2text(corpus, poses, order, self.captioner(out.joints, out.rotmats, seed=cfg.seed * 100 + 50 + k))
        self.edit(corpus, poses, out)
        self.chat(corpus, poses, out)

    def pose2text(self, corpus: PoseCorpus, poses: torch.Tensor, order, descriptions: list[str]) -> None:
        for i in order:
            request = self.pick(POSE2TEXT_REQUESTS).format(pose_in=POSE_IN_TOKEN)
            self.add("pose2text", corpus.split[i], messages=[_system(), {"role": "user", "content": request},
                                                             {"role": "assistant", "content": descriptions[i]}],
                     input_poses=[pose_list(poses[i])], meta={"source": corpus.poses.source[i]})

    def pool(self, corpus: PoseCorpus, split: str) -> list[int]:
        if not hasattr(self, "_pools"):
            self._pools = {s: corpus.index(s).tolist() for s in SPLITS}
        return self._pools[split]

    def edit(self, corpus: PoseCorpus, poses: torch.Tensor, out) -> None:
        cfg = self.config
        total = cfg.count(cfg.edit_pairs)
        a_idx, b_idx = [], []
        sources = corpus.poses.source
        while len(a_idx) < total:
            a = int(self.rng.integers(len(poses)))
            same = [t for t in self.pool(corpus, corpus.split[a]) if sources[t] == sources[a] and t != a]
            pool = same if (same and self.rng.random() < 0.6) else [t for t in self.pool(corpus, corpus.split[a]) if t != a]
            if not pool:
                continue
            a_idx.append(a)
            b_idx.append(int(self.rng.choice(pool)))
        a_t, b_t = torch.tensor(a_idx), torch.tensor(b_idx)
        texts = instruct(out.joints[a_t], out.joints[b_t], out.rotmats[a_t], out.rotmats[b_t], seed=cfg.seed)
        for a, b, text in zip(a_idx, b_idx, texts):
            if text == "Keep the same pose.":
                continue
            request = self.pick(EDIT_REQUESTS).format(pose_in=POSE_IN_TOKEN, text=text)
            self.add("edit", corpus.split[a], messages=[_system(), {"role": "user", "content": request},
                                                        {"role": "assistant", "content": self.pick(POSE_ANSWERS).format(pose=POSE_TOKEN)}],
                     input_poses=[pose_list(poses[a])], target_poses=[pose_list(poses[b])],
                     meta={"source_a": sources[a], "source_b": sources[b], "instruction": text})

    def chat(self, corpus: PoseCorpus, poses: torch.Tensor, out) -> None:
        cfg = self.config
        result = compute_posecodes(out.joints, out.rotmats)
        for i in self.rng.choice(len(poses), size=min(cfg.count(cfg.chat_count), len(poses)), replace=False):
            turns = chat_turns(result, int(i), self.rng, count=int(self.rng.integers(2, 4)))
            turns[0] = {"role": "user", "content": f"{POSE_IN_TOKEN}\n{turns[0]['content']}"}
            self.add("chat", corpus.split[i], messages=[_system(), *turns], input_poses=[pose_list(poses[i])],
                     meta={"source": corpus.poses.source[i]})

    # --- speculative pose generation --------------------------------------------------------
    def spg(self, corpus: PoseCorpus, spg: dict[str, dict]) -> None:
        cfg = self.config
        poses = _normalised(corpus.poses.pose)
        by_source: dict[str, list[int]] = {}
        for i, (s, m) in enumerate(zip(corpus.poses.source, corpus.poses.mirrored.tolist())):
            if not m:
                by_source.setdefault(s, []).append(i)
        for source, rows in by_source.items():
            split = corpus.split[rows[0]]  # the canonical pose's split
            descriptions = spg[source]["descriptions"]
            held = set(self.rng.choice(len(descriptions), size=int(round(cfg.spg_test_description_share * len(descriptions))),
                                       replace=False).tolist()) if split == "train" else set()
            for d, text in enumerate(descriptions):
                record_split = "test" if d in held else split
                candidates = [r for r in rows if corpus.split[r] == split]
                targets = [candidates[0]] + list(self.rng.choice(candidates[1:], size=min(len(candidates) - 1,
                                                                 cfg.spg_targets_per_description - 1), replace=False))
                for t in targets[: max(1, cfg.spg_targets_per_description)]:
                    request = self.pick(SPG_REQUESTS).format(text=text)
                    self.add("spg", record_split, messages=[_system(), {"role": "user", "content": request},
                                                            {"role": "assistant", "content": self.pick(POSE_ANSWERS).format(pose=POSE_TOKEN)}],
                             target_poses=[pose_list(poses[int(t)])],
                             meta={"source": source, "description": text, "description_index": d,
                                   "test_kind": ("unseen description" if d in held else
                                                 "unseen pose" if split == "test" else "")})

    # --- image tasks ------------------------------------------------------------------------
    def images(self, corpus: PoseCorpus, spg: dict[str, dict]) -> None:
        """image2pose and rpe: scenes (and every random choice) drawn in order, rendered by
        blocks in :func:`render_scenes` (several processes), records completed in order."""
        from tqdm.auto import tqdm

        cfg = self.config
        frame = corpus.to_frame()
        with SceneRenderer(self.body.faces, self.out, self.workers) as renderer:
            phases = [("image2pose", cfg.count(cfg.image2pose_count), None), ("rpe", cfg.count(cfg.rpe_scenes), None)]
            if cfg.image2pose_train_extra:  # last: every earlier draw is as without them
                phases.append(("image2pose", cfg.count(cfg.image2pose_train_extra), "train"))
            for task, total, split in phases:
                (self.out / "images" / task).mkdir(parents=True, exist_ok=True)
                bar = tqdm(total=total, desc=task if split is None else f"{task} ({split} only)", disable=not self.progress)
                in_flight = None  # the block being rendered while the next one's scenes are drawn
                for block in range(0, total, IMAGE_BLOCK):
                    jobs = [self._scene_job(task, corpus, frame, spg, split)
                            for _ in range(block, min(block + IMAGE_BLOCK, total))]
                    rendering = renderer.submit([(j["scene"], j["image"]) for j in jobs])
                    if in_flight is not None:
                        self._finish_block(task, *in_flight, bar)
                    in_flight = (jobs, rendering)
                if in_flight is not None:
                    self._finish_block(task, *in_flight, bar)
                bar.close()

    def _finish_block(self, task: str, jobs: list[dict], rendering, bar) -> None:
        for job, joints_2d in zip(jobs, rendering()):
            self._image_record(task, job, joints_2d)
        bar.update(len(jobs))

    def _scene_job(self, task: str, corpus: PoseCorpus, frame, spg: dict[str, dict], split: str | None = None) -> dict:
        """One image's scene and every random choice of its record, drawn in the dataset's order
        (``split``: this one, instead of drawing 70 / 10 / 20 % train / val / test)."""
        if split is None:
            split = str(self.rng.choice(SPLITS, p=[0.7, 0.1, 0.2]))
        pool = self.pool(corpus, split)
        if task == "image2pose":
            rows = [int(self.rng.choice(pool))]
        else:
            count = int(self.rng.integers(2, 5))
            pool_rows = np.asarray(pool)
            pool_cats = frame.category.to_numpy()[pool_rows]  # (a numpy mask: per-row pandas reads cost 80 % of the build)
            categories = list(dict.fromkeys(pool_cats))
            chosen_cats = list(self.rng.choice(categories, size=min(count, len(categories)), replace=False))
            rows = [int(self.rng.choice(pool_rows[pool_cats == c])) for c in chosen_cats]
        sources = [corpus.poses.source[r] for r in rows]
        scene = build_scene(self.body, corpus.poses.pose[rows], sources, [frame.category.iat[r] for r in rows],
                            [spg[s]["who"] for s in sources], self.rng, size=self.config.image_size)
        record_id = f"{task}-{split}-{len(self.records[task]) + self._pending[task]:06d}"
        self._pending[task] += 1
        job = {"split": split, "scene": scene, "sources": sources, "image": Path("images") / task / f"{record_id}.png"}
        if task == "image2pose":
            job["request"] = self.pick(IMAGE_REQUESTS).format(image=IMAGE_TOKEN)
            job["answer"] = self.pick(POSE_ANSWERS).format(pose=POSE_TOKEN)
            return job
        target = int(self.rng.integers(len(rows)))
        queries = make_queries(scene, target, spg[sources[target]]["descriptions"], self.rng)
        job["query"] = queries[int(self.rng.integers(len(queries)))]
        job["target"] = target
        job["request"] = self.pick(RPE_REQUESTS).format(image=IMAGE_TOKEN, query=job["query"].text)
        job["answer"] = self.pick(POSE_ANSWERS).format(pose=POSE_TOKEN)
        return job

    def _image_record(self, task: str, job: dict, joints_2d: torch.Tensor) -> None:
        self._pending[task] -= 1
        scene, split = job["scene"], job["split"]
        messages = [_system(), {"role": "user", "content": job["request"]}, {"role": "assistant", "content": job["answer"]}]
        if task == "image2pose":
            person = scene.people[0]
            self.add(task, split, messages=messages, target_poses=[pose_list(camera_frame_pose(person.pose, scene.camera))],
                     image=str(job["image"]),
                     meta={"source": job["sources"][0], "betas": [round(float(b), 4) for b in person.betas],
                           "joints_2d": [[round(float(v), 2) for v in p] for p in joints_2d[0]], "color": person.color})
            return
        query, target = job["query"], job["target"]
        self.add(task, split, messages=messages,
                 target_poses=[pose_list(camera_frame_pose(scene.people[target].pose, scene.camera))],
                 image=str(job["image"]),
                 meta={"query": query.text, "query_kind": query.kind, "attributes": query.attributes,
                       "target_index": target, "people": [
                           {"source": p.source, "color": p.color, "who": p.who, "height": round(p.height, 3),
                            "joints_2d": [[round(float(v), 2) for v in q] for q in joints_2d[k]]}
                           for k, p in enumerate(scene.people)]})


IMAGE_BLOCK = 256
"""Scenes drawn, then rendered together (bounds the memory the scenes of one block take)."""

_WORKER_FACES: torch.Tensor | None = None


def _start_render_worker(faces: torch.Tensor) -> None:
    global _WORKER_FACES
    torch.set_num_threads(1)  # one process per core
    _WORKER_FACES = faces


def _render_to_file(job: tuple) -> torch.Tensor:
    """Render one scene (sent without its faces: the worker holds them) and write its PNG;
    returns the people's 2D joints ``(P, 24, 2)``."""
    from PIL import Image

    scene, path = job
    if scene.faces is None:
        scene = dataclasses.replace(scene, faces=_WORKER_FACES)
    result = render_scene(scene)
    Image.fromarray(result.image.numpy()).save(path, optimize=False, compress_level=1)
    return result.joints_2d


class SceneRenderer:
    """Renders scenes to PNG files, in ``workers`` processes (in this one when ``workers <= 1``).
    Each image is rendered with one thread, so the bytes do not depend on the worker count."""

    def __init__(self, faces: torch.Tensor, root: Path, workers: int):
        self.faces, self.root, self.workers, self.pool = faces, Path(root), workers, None

    def __enter__(self) -> "SceneRenderer":
        if self.workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_render_worker, initargs=(self.faces,))
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=exc[0] is None, cancel_futures=True)

    def submit(self, jobs: list[tuple]):
        """Start rendering ``jobs`` (see :meth:`render`); returns a function that waits for them
        and gives their 2D joints. In worker processes the caller can draw the next scenes meanwhile."""
        if self.pool is None:
            done = self.render(jobs)
            return lambda: done
        light = [(dataclasses.replace(scene, faces=None), self.root / path) for scene, path in jobs]
        futures = [self.pool.submit(_render_to_file, job) for job in light]

        def wait() -> list[torch.Tensor]:
            from concurrent.futures.process import BrokenProcessPool

            try:
                return [future.result() for future in futures]
            except BrokenProcessPool:
                self._fall_back()
                return self.render(jobs)
        return wait

    def _fall_back(self) -> None:
        """Render in this process from now on (every block already sent to the broken pool lands here)."""
        import warnings

        if self.pool is None:  # an earlier block already fell back
            return
        warnings.warn("render workers could not start (does the calling script guard its entry point with "
                      "`if __name__ == \"__main__\":`?); rendering in this process instead", RuntimeWarning,
                      stacklevel=3)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = None

    def render(self, jobs: list[tuple]) -> list[torch.Tensor]:
        """``[(scene, relative image path), ...]`` -> each scene's 2D joints, in order, rendered in
        this process (:meth:`submit` sends them to the workers)."""
        threads = torch.get_num_threads()
        _start_render_worker(self.faces)
        try:
            return [_render_to_file((scene, self.root / path)) for scene, path in jobs]
        finally:
            torch.set_num_threads(threads)


def default_workers() -> int:
    """Render processes for a dataset build: one per CPU core, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _bend(category: str) -> str:
    return PREDICATES["angle"][category][0]  # "bent at a right angle", "partially bent", ...


_YES_NO = (
    ("angle:{s}_knee", "Is the person's {s} knee bent?", lambda c: c != "straight",
     lambda c: f"the {{s}} knee is {_bend(c)}"),
    ("angle:{s}_elbow", "Is the {s} elbow bent?", lambda c: c != "straight",
     lambda c: f"the {{s}} elbow is {_bend(c)}"),
    ("position_y:{s}_hand-head", "Is the {s} hand above the head?", lambda c: c == "above",
     lambda c: "the {s} hand is above the head" if c == "above" else "the {s} hand is not above the head"),
    ("ground:{s}_knee", "Is the {s} knee touching the ground?", lambda c: c == "on the ground",
     lambda c: "the {s} knee is on the ground" if c == "on the ground" else "the {s} knee is off the ground"),
    ("ground:{s}_foot", "Is the {s} foot on the ground?", lambda c: c == "on the ground",
     lambda c: "the {s} foot is on the ground" if c == "on the ground" else "the {s} foot is lifted off the ground"),
    ("super:kneeling", "Is the person kneeling?", lambda c: c == "yes",
     lambda c: "the person is kneeling" if c == "yes" else "the person is not kneeling"),
    ("super:squatting", "Is the person squatting?", lambda c: c == "yes",
     lambda c: "the person is squatting" if c == "yes" else "the person is not squatting"),
    ("super:lying on the back", "Is the person lying on their back?", lambda c: c == "yes",
     lambda c: "they are lying on their back" if c == "yes" else "they are not lying on their back"),
    ("inclination", "Is the person leaning forward?", lambda c: c.startswith("leaning forward"),
     lambda c: "the upper body is leaning forward" if c.startswith("leaning forward") else "the upper body is not leaning forward"),
    ("distance:left_hand-right_hand", "Are the hands close together?", lambda c: c == "close",
     lambda c: "the hands are close together" if c == "close" else "the hands are apart"),
    ("orientation:{s}_hip-{s}_knee", "Is the {s} thigh horizontal?", lambda c: c == "horizontal",
     lambda c: "the {s} thigh is horizontal" if c == "horizontal" else "the {s} thigh is not horizontal"),
)


def chat_turns(result, b: int, rng: np.random.Generator, count: int = 2) -> list[dict[str, str]]:
    """Yes/no questions about pose ``b`` answered from its deterministic posecodes, ``count``
    Q&A pairs, balanced so that about half of the answers are "yes"."""
    candidates = []
    for code, question, truth, explain in _YES_NO:
        for side in (("left", "right") if "{s}" in code else ("",)):
            category = result.category(b, code.format(s=side))
            answer = f"{'Yes' if truth(category) else 'No'}, {explain(category).format(s=side)}."
            candidates.append((question.format(s=side), answer, truth(category)))
    if count > len(candidates):
        raise ValueError(f"count={count} but only {len(candidates)} distinct questions exist")
    turns, used = [], set()
    for _ in range(count):
        want_yes = bool(rng.random() < 0.5)
        pool = [c for c in candidates if c[2] == want_yes and c[0] not in used] or \
               [c for c in candidates if c[0] not in used]
        question, answer, _ = pool[int(rng.integers(len(pool)))]
        used.add(question)
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return turns


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_dataset(config: DatasetConfig = DatasetConfig(), out_dir: str | os.PathLike | None = None, body=None,
                  progress: bool = True, workers: int = 1) -> dict:
    """Build every task dataset; returns the manifest (also written to ``manifest.json``, with the
    SHA-256 of every record file and image: :func:`verify_dataset`).

    The dataset is built in a temporary folder next to the target and takes its place in one
    rename at the end: an interrupted build (Ctrl-C, a crash) leaves the previous dataset as it
    was, or no folder at all. ``workers``: processes that render the images (the dataset's bytes
    do not depend on it; :func:`default_workers` is one per core). More than one needs the
    calling script to guard its entry point (``if __name__ == "__main__":``), as every
    ``multiprocessing`` "spawn" start does; without it rendering falls back to this process."""

    from posekit.files import atomic_dir

    final = Path(out_dir) if out_dir is not None else dataset_dir(config.name)
    with atomic_dir(final) as tmp:  # an interrupted build leaves the old folder (or none), never half of one
        return _build_into(config, tmp, body, progress, workers)


def _build_into(config: DatasetConfig, out: Path, body, progress: bool, workers: int) -> dict:
    import posekit
    from posekit.body import load_body_model

    start = time.time()
    body = body or load_body_model()
    torch.manual_seed(config.seed)
    corpus = build_pose_corpus(body, seed=config.seed, sampler=config.sampler, splits=config.splits, progress=progress)
    spg = load_spg_descriptions()
    missing = set(corpus.entries) - set(spg)
    if missing:
        raise ValueError(f"canonical poses without SPG descriptions: {sorted(missing)}; add them to data/spg/descriptions.json")
    builder = _Builder(config, body, out, progress, workers)
    with torch.no_grad():
        builder.text_tasks(corpus)
        builder.spg(corpus, spg)
        builder.images(corpus, spg)
    files, counts = {}, {}
    for task, records in builder.records.items():
        for split in SPLITS:
            chosen = [r for r in records if r.split == split]
            path = write_jsonl(chosen, out / task / f"{split}.jsonl")
            files[f"{task}/{split}.jsonl"] = _sha256(path)
            counts.setdefault(task, {})[split] = len(chosen)
    images = {r.image: _sha256(out / r.image) for records in builder.records.values() for r in records if r.image}
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
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def ensure_dataset(config: DatasetConfig, body=None, progress: bool = False, workers: int = 1) -> Path:
    """The folder of ``config``'s dataset, built first unless a manifest with the same config
    and the same caption rules (:data:`posekit.language.LANGUAGE_VERSION`) is there."""
    root = dataset_dir(config.name)
    manifest = root / "manifest.json"
    if manifest.is_file():
        stored = json.loads(manifest.read_text())
        if (stored.get("config") == json.loads(json.dumps(config.to_dict()))
                and stored.get("language") == LANGUAGE_VERSION):
            return root
    build_dataset(config, out_dir=root, body=body, progress=progress, workers=workers)
    return root
