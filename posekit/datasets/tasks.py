"""The per-task record builders: text2pose, pose2text, spg, image2pose, rpe, edit and chat records
from the pose corpus."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from posekit.body.parameters import remove_yaw
from posekit.corpus.scenes import build_scene, camera_frame_pose, make_queries
from posekit.corpus.splits import SPLITS, PoseCorpus
from posekit.datasets.config import DatasetConfig
from posekit.datasets.questions import chat_turns
from posekit.datasets.records import (
    EDIT_REQUESTS,
    IMAGE_REQUESTS,
    IMAGE_TOKEN,
    POSE2TEXT_REQUESTS,
    POSE_ANSWERS,
    POSE_IN_TOKEN,
    POSE_TOKEN,
    RPE_REQUESTS,
    SPG_REQUESTS,
    TASKS,
    TEXT2POSE_REQUESTS,
    Record,
    pose_list,
    system_turn,
)
from posekit.datasets.rendering import IMAGE_BLOCK, SceneRenderer
from posekit.language import Captioner, compute_posecodes, instruct
from posekit.paths import data_dir, resolve_file

__all__ = ["load_spg_descriptions", "heading_removed", "TaskBuilder"]


def load_spg_descriptions() -> dict[str, dict]:
    """``{canonical pose: {"who": str, "descriptions": [str, ...]}}`` (``data/spg/descriptions.json``)."""
    file = resolve_file("descriptions.json", defaults=(data_dir() / "spg",), what="SPG descriptions")
    return {k: v for k, v in json.loads(Path(file).read_text()).items() if not k.startswith("_")}


def heading_removed(pose: torch.Tensor) -> torch.Tensor:
    """Pose ``(N, 24, 3)`` with the heading removed from the global orientation."""
    out = pose.clone()
    out[:, 0] = remove_yaw(pose[:, 0])
    return out


class TaskBuilder:
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
        poses = heading_removed(corpus.poses.pose)
        out = self.body(poses[:, 0], poses[:, 1:], joints_only=True)
        cfg = self.config
        n = len(poses)
        order = self.rng.permutation(n)
        for k in range(cfg.captions_per_pose):
            seed = cfg.seed * 100 + k
            codes = compute_posecodes(out.joints, out.rotmats, generator=torch.Generator().manual_seed(seed))
            captions, stated = self.captioner.with_facts(codes, seed)
            captions = self._human_captions(corpus, captions, k)
            for i in order:
                split = corpus.split[i]
                if self.rng.random() < cfg.multi_pose_share:
                    j = int(self.rng.choice([t for t in self.pool(corpus, split) if t != i]))
                    text = f"Give two poses. First: {captions[i]} Second: {captions[j]}"
                    answer = f"Sure: {POSE_TOKEN} and {POSE_TOKEN}."
                    self.add("text2pose", split, messages=[system_turn(), {"role": "user", "content": text},
                                                           {"role": "assistant", "content": answer}],
                             target_poses=[pose_list(poses[i]), pose_list(poses[j])],
                             meta={"sources": [corpus.poses.source[i], corpus.poses.source[j]], "multi": True,
                                   "captions": [captions[i], captions[j]]})
                    continue
                request = self.pick(TEXT2POSE_REQUESTS).format(text=captions[i])
                answer = self.pick(POSE_ANSWERS).format(pose=POSE_TOKEN)
                self.add("text2pose", split, messages=[system_turn(), {"role": "user", "content": request},
                                                       {"role": "assistant", "content": answer}],
                         target_poses=[pose_list(poses[i])], meta={"source": corpus.poses.source[i],
                                                                    "kind": corpus.poses.kind[i], "posecodes": stated[i],
                                                                    "caption": captions[i]})
        for k in range(cfg.pose2text_per_pose):
            written = self.captioner(out.joints, out.rotmats, seed=cfg.seed * 100 + 50 + k)
            self.pose2text(corpus, poses, order, self._human_captions(corpus, written, k))
        self.edit(corpus, poses, out)
        self.chat(corpus, poses, out)

    @staticmethod
    def _human_captions(corpus: PoseCorpus, captions: list[str], k: int) -> list[str]:
        """``captions`` with each pose that has human-written ones (:attr:`PoseCorpus.captions`) given its
        ``k``-th (cycling): they say it in people's words, the captioner's only where there are none."""
        if not corpus.captions:
            return captions
        return [own[k % len(own)] if own else text for text, own in zip(captions, corpus.captions)]

    def pose2text(self, corpus: PoseCorpus, poses: torch.Tensor, order, descriptions: list[str]) -> None:
        for i in order:
            request = self.pick(POSE2TEXT_REQUESTS).format(pose_in=POSE_IN_TOKEN)
            self.add("pose2text", corpus.split[i], messages=[system_turn(), {"role": "user", "content": request},
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
            self.add("edit", corpus.split[a], messages=[system_turn(), {"role": "user", "content": request},
                                                        {"role": "assistant", "content": self.pick(POSE_ANSWERS).format(pose=POSE_TOKEN)}],
                     input_poses=[pose_list(poses[a])], target_poses=[pose_list(poses[b])],
                     meta={"source_a": sources[a], "source_b": sources[b], "instruction": text})

    def chat(self, corpus: PoseCorpus, poses: torch.Tensor, out) -> None:
        cfg = self.config
        result = compute_posecodes(out.joints, out.rotmats)
        for i in self.rng.choice(len(poses), size=min(cfg.count(cfg.chat_count), len(poses)), replace=False):
            turns = chat_turns(result, int(i), self.rng, count=int(self.rng.integers(2, 4)))
            turns[0] = {"role": "user", "content": f"{POSE_IN_TOKEN}\n{turns[0]['content']}"}
            self.add("chat", corpus.split[i], messages=[system_turn(), *turns], input_poses=[pose_list(poses[i])],
                     meta={"source": corpus.poses.source[i]})

    # --- speculative pose generation --------------------------------------------------------
    def spg(self, corpus: PoseCorpus, spg: dict[str, dict]) -> None:
        cfg = self.config
        poses = heading_removed(corpus.poses.pose)
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
                    self.add("spg", record_split, messages=[system_turn(), {"role": "user", "content": request},
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
        messages = [system_turn(), {"role": "user", "content": job["request"]}, {"role": "assistant", "content": job["answer"]}]
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
