"""Training-time variants of a dataset's records: described answers, fresh caption and instruction
draws, extra edit pairs (built when training, never stored)."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from posekit.body.model import load_body_model
from posekit.corpus.library import library_params, load_pose_library
from posekit.datasets.records import (
    EDIT_REQUESTS,
    INSTRUCTION_REQUESTS,
    POSE_ANSWERS,
    POSE_IN_TOKEN,
    POSE_TOKEN,
    TEXT2POSE_REQUESTS,
    Record,
    system_turn,
)
from posekit.language import CaptionConfig, Captioner, InstructionConfig, compute_posecodes, instruct, pose_instructions

__all__ = ["INSTRUCTION_START", "describe_then_pose", "RECAPTION_STYLES", "recaptioned", "extra_edit_pairs"]


INSTRUCTION_START = "standing"
"""The canonical pose (``data/poses/canonical.json``) that instruction-style requests start
from: standing, arms relaxed by the sides, no posecode but the feet on the ground."""


def describe_then_pose(records: list[Record], body=None, batch_size: int = 512) -> list[Record]:
    """"Describe, then pose": the same records, with every assistant turn that writes ``<POSE>``
    first stating the posecode description of its target pose(s) (posekit's captioner in
    deterministic mode, so one pose always gets the same wording), e.g.
    ``"Sure, here it is: <POSE>."`` -> ``"Their arms are raised ... Sure, here it is: <POSE>."``.
    Several poses in one turn are described in order (``"Pose 1: ... Pose 2: ..."``). Records
    without target poses are returned unchanged; changed ones get ``meta["described"] = True``."""

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
    lean forward."), wrapped in :data:`~posekit.datasets.records.INSTRUCTION_REQUESTS` (mostly
    bare, as a person types it): what people type to the chat, which the captioner never
    writes (:func:`posekit.language.pose_instructions`)."""

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
                              messages=[system_turn(), {"role": "user", "content": request},
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
                          messages=[system_turn(), {"role": "user", "content": request}, {"role": "assistant", "content": answer}],
                          input_poses=r.input_poses, target_poses=[pose],
                          meta={"source_a": r.meta.get("source_a"), "source_b": source, "instruction": text, "draw": k}))
    return out
