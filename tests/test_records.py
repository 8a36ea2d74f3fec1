import json

import pytest

from posekit.datasets.records import POSE_TOKEN, Record, read_jsonl, write_jsonl


def _record(pose=None, **kwargs):
    pose = pose if pose is not None else [[0.0, 0.0, 0.0]] * 24
    return Record(id="r1", task="text2pose", split="train",
                  messages=[{"role": "user", "content": "Stand."}, {"role": "assistant", "content": POSE_TOKEN}],
                  target_poses=[pose], **kwargs)


def test_a_record_with_a_nan_pose_is_refused_naming_the_pose_and_joint():
    pose = [[0.0, 0.0, 0.0]] * 24
    pose[5] = [0.0, float("nan"), 0.0]
    with pytest.raises(ValueError, match=r"r1: target_poses\[0\] has NaN/inf values \(joint 5\)"):
        _record(pose)
    with pytest.raises(ValueError, match=r"\(P, 24, 3\)"):
        _record([[0.0, 0.0, 0.0]] * 23)


def test_read_jsonl_names_the_file_and_line_of_a_bad_record(tmp_path):
    path = write_jsonl([_record(), _record()], tmp_path / "a.jsonl")
    assert len(read_jsonl(path)) == 2
    lines = path.read_text().splitlines()
    bad = json.loads(lines[1])
    bad["target_poses"][0][3][1] = float("inf")  # json writes Infinity
    path.write_text(lines[0] + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=r"a\.jsonl, line 2: .*NaN/inf"):
        read_jsonl(path)
    path.write_text(lines[0] + "\n" + lines[1][:40] + "\n")  # a truncated last line
    with pytest.raises(ValueError, match="line 2"):
        read_jsonl(path)


def test_write_jsonl_leaves_no_partial_file_when_a_record_fails(tmp_path):
    path = write_jsonl([_record()], tmp_path / "b.jsonl")
    before = path.read_bytes()

    class Broken:
        def to_json(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_jsonl([_record(), Broken()], path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["b.jsonl"]
