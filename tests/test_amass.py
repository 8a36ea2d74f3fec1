"""A pose corpus from an AMASS copy (posekit.corpus.amass): a small AMASS-format folder written here (SMPL-H
motion files, z-up, shape.npz subject files, PoseScript captions of some frames) builds the task datasets."""
import json
import math

import numpy as np
import pytest
import roma
import torch

from posekit.corpus.amass import AMASS_KIND, AmassError, AmassSource, amass_files, build_amass_corpus
from posekit.corpus.library import canonical_poses

RATE = 60.0
SUBSETS = {"CMU": ["01/01_01_poses.npz", "01/01_02_poses.npz", "02/02_01_poses.npz", "02/02_05_poses.npz",
                   "03/03_01_poses.npz", "03/03_02_poses.npz"],
           "KIT": ["3/walk_01_poses.npz", "3/walk_02_poses.npz", "4/jump_01_poses.npz", "4/jump_02_poses.npz",
                   "5/sit_01_poses.npz", "5/sit_03_poses.npz"]}
CAPTIONED = {"1": ("CMU/01/01_01_poses.npz", 45, "The person kneels on the right knee with both arms raised."),
             "2": ("KIT/4/jump_01_poses.npz", 7, "Someone jumps with the arms flung out.")}


def _motion(start: torch.Tensor, frames: int, seed: int) -> dict:
    """A sequence moving away from a pose ``(24, 3)``, as AMASS writes it: SMPL-H ``(T, 156)``, z-up."""
    gen = torch.Generator().manual_seed(seed)
    pose = start.expand(frames, -1, -1).clone()
    pose[:, 1:22] += torch.linspace(0, 1, frames)[:, None, None] * torch.randn(21, 3, generator=gen) * 0.3
    to_z_up = roma.rotvec_to_rotmat(torch.tensor([math.pi / 2, 0.0, 0.0]))  # AMASS's world is z-up
    pose[:, 0] = roma.rotmat_to_rotvec(to_z_up @ roma.rotvec_to_rotmat(pose[:, 0]))
    full = np.zeros((frames, 156), np.float32)
    full[:, :66] = pose[:, :22].reshape(frames, 66).numpy()
    return {"poses": full, "trans": np.zeros((frames, 3), np.float32), "betas": np.zeros(16, np.float32),
            "mocap_framerate": np.array(RATE), "gender": np.array("neutral")}


@pytest.fixture(scope="module")
def amass_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("amass")
    starts = list(canonical_poses().values())
    for k, name in enumerate(f"{subset}/{path}" for subset, paths in SUBSETS.items() for path in paths):
        file = root / name
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(file, **_motion(starts[(7 * k) % len(starts)], 150 + 10 * k, k))
        np.savez(file.parent / "shape.npz", betas=np.zeros(16, np.float32), gender=np.array("neutral"))
    script = tmp_path_factory.mktemp("posescript")
    index = {i: ["AMASS", f"./{path}", frame] for i, (path, frame, _) in CAPTIONED.items()}
    (script / "ids_2_dataset_sequence_and_frame_index.json").write_text(json.dumps(index))
    (script / "posescript_human_6293.json").write_text(json.dumps({i: text for i, (_, _, text) in CAPTIONED.items()}))
    return root, script


def test_the_corpus_keeps_a_frame_a_second_upright_split_by_sequence_with_posescripts_frames(amass_folder):
    root, script = amass_folder
    files = amass_files(root)
    assert len(files) == 12 and all(f.name != "shape.npz" for f in files)  # the subject files are left out
    corpus = build_amass_corpus(AmassSource(str(root), every=1.0, posescript=str(script)), seed=0)
    by_file = {}
    for source, split in zip(corpus.poses.source, corpus.split):
        by_file.setdefault(source, set()).add(split)
    assert all(len(splits) == 1 for splits in by_file.values())  # a sequence's frames are in one split
    assert {"train", "test"} <= {s for splits in by_file.values() for s in splits}
    # 150 + 10 k frames at 60 fps: frames 0, 60, 120 (, 180, ...), plus the two frames PoseScript captioned
    expected = sum(len(range(0, 150 + 10 * k, 60)) for k in range(12)) + 2
    assert len(corpus) == expected and set(corpus.poses.kind) == {AMASS_KIND}
    captioned = {corpus.poses.source[i]: c for i, c in enumerate(corpus.captions) if c}
    assert captioned == {path: (text,) for path, _, text in CAPTIONED.values()}
    # z-up turned y-up: the first frame of each sequence is its (upright) canonical start pose again
    starts = list(canonical_poses().values())
    first = [corpus.poses.source.index(f"{s}/{p}") for s, ps in SUBSETS.items() for p in ps]
    got = roma.rotvec_to_rotmat(corpus.poses.pose[first, 0])
    want = roma.rotvec_to_rotmat(torch.stack([starts[(7 * k) % len(starts)][0] for k in range(12)]))
    assert torch.allclose(got, want, atol=1e-5)
    again = build_amass_corpus(AmassSource(str(root), every=1.0, posescript=str(script)), seed=0, workers=2)
    assert again.split == corpus.split and torch.equal(again.poses.pose, corpus.poses.pose)  # workers change nothing


def test_build_data_from_amass_makes_every_task_but_spg(amass_folder, tmp_path):
    from posekit.cli import main
    from posekit.datasets import load_records

    root, script = amass_folder
    out = tmp_path / "data"
    assert main(["build-data", "--amass", str(root), "--posescript", str(script), "--out", str(out), "--quick",
                 "--scale", "0.02", "--workers", "1", "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["amass"]["path"] == str(root) and manifest["source"]["human_captions"] == 2
    counts = {task: sum(c.values()) for task, c in manifest["counts"].items()}
    assert counts["spg"] == 0 and all(counts[t] > 0 for t in ("text2pose", "pose2text", "edit", "image2pose", "rpe"))
    records = [r for s in ("train", "val", "test") for r in load_records("text2pose", s, root=out)]
    sources = {r.meta["source"]: r.split for r in records if "source" in r.meta}
    assert set(sources) <= {f"{s}/{p}" for s, ps in SUBSETS.items() for p in ps}
    human = [r for r in records if r.meta.get("caption") in {t for _, _, t in CAPTIONED.values()}]
    assert len(human) == 2 and all(r.meta["caption"] in r.messages[1]["content"] for r in human)
    rpe = [r for s in ("train", "test") for r in load_records("rpe", s, root=out)]
    kinds = {r.meta["query_kind"] for r in rpe}
    assert rpe and "color" in kinds and not kinds & {"action", "color+action", "situation"}  # AMASS has no actions


def test_a_file_that_is_not_a_motion_file_is_named_in_one_line(tmp_path):
    (tmp_path / "CMU" / "01").mkdir(parents=True)
    np.savez(tmp_path / "CMU" / "01" / "01_01_poses.npz", **_motion(torch.zeros(24, 3), 90, 0))
    np.savez(tmp_path / "CMU" / "01" / "broken.npz", betas=np.zeros(16, np.float32))
    with pytest.raises(AmassError, match=r"AMASS file CMU/01/broken.npz: .* no 'poses' array"):
        build_amass_corpus(AmassSource(str(tmp_path)))
    with pytest.raises(ValueError, match="every must be > 0"):
        AmassSource(str(tmp_path), every=0.0)


@pytest.mark.parametrize("rate", [0.0, -30.0, float("nan")])
def test_a_frame_rate_that_is_not_one_is_named(tmp_path, rate):
    """A frame rate of 0 was read as 60 fps (the default for a file that gives none)."""
    (tmp_path / "CMU").mkdir()
    np.savez(tmp_path / "CMU" / "01_poses.npz", **{**_motion(torch.zeros(24, 3), 90, 0), "mocap_framerate": np.array(rate)})
    with pytest.raises(AmassError, match=r"AMASS file CMU/01_poses.npz: mocap_framerate is .*, not a frame rate"):
        build_amass_corpus(AmassSource(str(tmp_path)))
