"""The photo path (BlazePose landmarks + body fit) on posekit's rendered test images, beside ChatPose's
image path and the image regressor: detection rate, PA-MPJPE and F1 with paired-bootstrap intervals on
the images where a person was found. Which person: the largest ("photo"), the one the request's words
or ChatPose's answer point to ("photo + chatpose", as the chat picks), or the true one ("photo, true
person": what picking loses). Then seconds per photo (landmarks, fit, a chat turn).

    python bench/photo_path.py [--dataset evaluation] [--limit N] [--out data/experiments/photo_path]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from posekit.datasets import dataset_dir, load_records
from posekit.evaluation.benchmark import evaluate, evenly
from posekit.evaluation.metrics import paired_bootstrap
from posekit.models.baselines import make_baseline
from posekit.models.chatpose import load_chatpose
from posekit.photos import POINTS
from posekit.photos.predictor import PhotoPoseModel


def asked_person_found(record, people, tolerance: float = 15.0) -> bool:
    """Whether one of ``people`` is the record's asked-for person: its shoulders, hips and knees within
    ``tolerance`` pixels (mean) of that person's projected joints (``meta``'s ``joints_2d``)."""
    meta = record.meta
    truth = meta["people"][meta["target_index"]]["joints_2d"] if "people" in meta else meta.get("joints_2d")
    if truth is None or not people:
        return False
    truth = torch.tensor(truth)
    pairs = {joints[0]: marks[0] for name, joints, marks in POINTS  # SMPL joint: BlazePose landmark
             if name in ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee")}
    return min(float(torch.stack([torch.dist(torch.as_tensor(p.image_xy[b]).float(), truth[s].float())
                                  for s, b in pairs.items()]).mean()) for p in people) < tolerance


class TrueAnswer:
    """A guide that knows the asked-for person's pose: how well the photo path could do if it always
    picked the right person (the information lost in picking)."""

    name = "truth"

    def predict(self, records, root=None) -> torch.Tensor:
        return torch.stack([r.targets()[0] for r in records])


def latency(root: Path, chatpose, photos: int = 12) -> dict:
    """Seconds per photo: landmarks, the fit of one person alone (no batching), and a whole chat turn
    ("Show me the pose of the person in this photo.") on single-person test images."""
    from posekit.chat import ChatSession
    from posekit.photos import NoPersonError, find_people, fit_people

    records = evenly(load_records("image2pose", "test", root=root), photos)
    session = ChatSession(model=chatpose)
    marks, fits, turns = [], [], []
    for record in records:
        start = time.time()
        try:
            people = find_people(root / record.image)
        except NoPersonError:
            continue
        marks.append(time.time() - start)
        fits.append(fit_people(people[:1], session.body).seconds)
        session.reset()
        start = time.time()
        session.send("Show me the pose of the person in this photo.", image=root / record.image)
        turns.append(time.time() - start)
    median = lambda v: round(float(torch.tensor(v).median()), 3)  # noqa: E731
    return {"photos": len(marks), "landmarks_s": median(marks), "fit_one_person_s": median(fits),
            "fit_one_person_max_s": round(max(fits), 3), "chat_turn_s": median(turns),
            "chat_turn_max_s": round(max(turns), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="evaluation")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--checkpoint", default=None, help="ChatPose checkpoint (default: the shipped one)")
    parser.add_argument("--out", default="data/experiments/photo_path")
    args = parser.parse_args()
    root = dataset_dir(args.dataset)
    chatpose = load_chatpose(args.checkpoint, dtype="float32")
    rows = {}
    for task in ("image2pose", "rpe"):
        test = evenly(load_records(task, "test", root=root), args.limit)
        train = load_records("image2pose", "train", root=root)
        regressor = make_baseline("regressor", task).fit(evenly(train, 2000), root)
        photo, guided = PhotoPoseModel(), PhotoPoseModel(guide=chatpose, words=True, name="photo + chatpose")
        oracle = PhotoPoseModel(guide=TrueAnswer(), name="photo, true person")
        results = {}
        for model in (chatpose, regressor, photo, guided, oracle):
            start = time.time()
            results[model.name] = evaluate(model, task, test, root, model_name=model.name)
            print(f"{task} {model.name}: {time.time() - start:.0f} s", flush=True)
        found = guided.found
        asked = [asked_person_found(r, people) for r, people in zip(test, guided.found_people)]
        row = {"records": len(test), "found": int(found.sum()), "detection_rate": float(found.float().mean()),
               "asked_person_found_rate": sum(asked) / len(asked),
               "people_found_mean": float(guided.people.float().mean()),
               "fit_seconds_per_person_batched": guided.seconds}
        for name, result in results.items():
            per = result.per_sample
            row[name] = {m: float(per[m][found.numpy()].mean()) for m in ("PA-MPJPE", "posecode_F1")}
        for ours in ("photo", "photo + chatpose", "photo, true person"):
            for other in ("chatpose", "regressor"):
                for metric in ("PA-MPJPE", "posecode_F1"):
                    a = torch.tensor(results[ours].per_sample[metric].to_numpy())[found]
                    b = torch.tensor(results[other].per_sample[metric].to_numpy())[found]
                    diff = paired_bootstrap(a, b)
                    row[f"{ours} - {other} {metric}"] = [round(diff.mean, 2), round(diff.low, 2), round(diff.high, 2)]
        rows[task] = row
        print(json.dumps({task: row}, indent=1), flush=True)
    rows["latency"] = latency(root, chatpose)
    print(json.dumps({"latency": rows["latency"]}, indent=1), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"dataset": args.dataset, "limit": args.limit, **rows}, indent=1))
    print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
