import json

import numpy as np
import pytest
import torch
from PIL import Image

from posekit.datasets import (
    DatasetError,
    build_dataset,
    describe_then_pose,
    extra_edit_pairs,
    load_records,
    load_spg_descriptions,
    recaptioned,
    verify_dataset,
)
from posekit.datasets.records import IMAGE_TOKEN, POSE_IN_TOKEN, POSE_TOKEN, Record
from posekit.language.captioner import Captioner
from posekit.language.posecodes import compute_posecodes


@pytest.fixture(scope="module")
def built(tiny_dataset):
    return tiny_dataset[:2]


def all_records(root, task):
    return [r for split in ("train", "val", "test") for r in load_records(task, split, root=root)]


def test_every_task_and_split_is_written_with_a_manifest(built):
    root, manifest = built
    assert json.loads((root / "manifest.json").read_text())["files"] == manifest["files"]
    for task in ("text2pose", "pose2text", "spg", "image2pose", "rpe", "edit", "chat"):
        assert manifest["counts"][task]["train"] > 0, task
        assert sum(manifest["counts"][task].values()) == len(all_records(root, task))
    assert manifest["config"]["seed"] == 0 and manifest["corpus"]["canonical"] >= 150


def test_same_seed_rebuilds_the_same_dataset(tiny_dataset, tmp_path, body):
    _, manifest, config = tiny_dataset
    again = build_dataset(config, out_dir=tmp_path, body=body, progress=False)
    assert again["files"] == manifest["files"]  # SHA-256 of every JSONL file


def test_records_are_well_formed(built):
    root, _ = built
    for task in ("text2pose", "spg", "image2pose", "rpe", "edit", "pose2text", "chat"):
        for record in all_records(root, task):
            assert record.messages[0]["role"] == "system" and record.messages[-1]["role"] == "assistant"
            assert record.targets().shape[0] == sum(m["content"].count(POSE_TOKEN) for m in record.messages)
            assert torch.isfinite(record.targets()).all()
            if record.image:
                image = Image.open(root / record.image)
                assert image.size == (224, 224) and IMAGE_TOKEN in record.messages[1]["content"]
    edit = all_records(root, "edit")[0]
    assert POSE_IN_TOKEN in edit.messages[1]["content"] and len(edit.input_poses) == 1
    with pytest.raises(ValueError, match="target poses"):
        Record("x", "text2pose", "train", [{"role": "assistant", "content": POSE_TOKEN}])


def test_text2pose_targets_match_their_descriptions(built, body):
    root, _ = built
    records = [r for r in all_records(root, "text2pose") if "posecodes" in r.meta]
    targets = torch.cat([r.targets() for r in records])
    out = body(targets[:, 0], targets[:, 1:], joints_only=True)
    codes = compute_posecodes(out.joints, out.rotmats)

    def agreement(i, stated):
        return np.mean([codes.category(i, name) == cat for name, cat in stated])

    mine = np.mean([agreement(i, r.meta["posecodes"]) for i, r in enumerate(records)])
    shuffled = np.mean([agreement(i, records[(i + 5) % len(records)].meta["posecodes"]) for i in range(len(records))])
    assert mine > 0.9 > 0.6 > shuffled


def test_spg_uses_held_out_poses_and_descriptions_only_for_test(built):
    root, _ = built
    spg = load_spg_descriptions()
    train = all_records(root, "spg")
    train_sources = {r.meta["source"] for r in train if r.split == "train"}
    train_texts = {r.meta["description"] for r in train if r.split == "train"}
    for record in train:
        if record.split == "test":
            kind = record.meta["test_kind"]
            assert kind in ("unseen pose", "unseen description")
            if kind == "unseen pose":
                assert record.meta["source"] not in train_sources
            assert record.meta["description"] not in train_texts
        assert record.meta["description"] in spg[record.meta["source"]]["descriptions"]


def test_rpe_queries_single_out_one_person(built):
    root, _ = built
    records = all_records(root, "rpe")
    assert records
    for record in records:
        people, target, attrs = record.meta["people"], record.meta["target_index"], record.meta["attributes"]
        assert 2 <= len(people) <= 4
        match = set(range(len(people)))
        if "color" in attrs:
            match &= {k for k, p in enumerate(people) if p["color"] == attrs["color"]}
        if "action" in attrs:
            match &= {k for k, p in enumerate(people) if p["who"] == attrs["action"]}
        if "situation_source" in attrs:
            match &= {k for k, p in enumerate(people) if p["source"] == attrs["situation_source"]}
        if "height" in attrs:
            heights = [p["height"] for p in people]
            match &= {heights.index(max(heights) if attrs["height"] == "tallest" else min(heights))}
        if "position" in attrs:
            xs = [p["joints_2d"][0][0] for p in people]
            match &= {xs.index(min(xs) if attrs["position"] == "leftmost" else max(xs))}
        assert match == {target}, record.meta["query"]


def test_missing_dataset_says_how_to_build_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"build-data --out {tmp_path / 'nope'}"):
        load_records("spg", "train", root=tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="build-data --name mine"):
        load_records("spg", "train", name="mine")
    (tmp_path / "spg").mkdir()
    (tmp_path / "spg" / "train.jsonl").write_text("")
    with pytest.raises(DatasetError, match="no manifest.json"):  # an interrupted build is never read
        load_records("spg", "train", root=tmp_path)


def test_verify_dataset_finds_changed_and_missing_files(tiny_dataset, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset[0], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["images"] and all((copy / rel).is_file() for rel in manifest["images"])
    check = verify_dataset(root=copy)
    assert check.ok and check.checked == len(manifest["files"]) + len(manifest["images"]) and not check.unverified
    image = copy / next(iter(manifest["images"]))
    image.write_bytes(image.read_bytes()[:-1] + b"\0")
    (copy / "spg" / "test.jsonl").unlink()
    check = verify_dataset(root=copy)
    assert not check.ok and check.missing == ["spg/test.jsonl"] and check.changed == [str(image.relative_to(copy))]
    assert "rebuild" in check.summary()


def test_chat_answers_follow_the_pose(body):
    from posekit.corpus.splits import load_canonical
    from posekit.corpus.variants import entries_to_rotvec
    from posekit.datasets import chat_turns

    pose = entries_to_rotvec([load_canonical()["kneeling upright"]])
    out = body(pose[:, 0], pose[:, 1:], joints_only=True)
    codes = compute_posecodes(out.joints, out.rotmats)
    turns = chat_turns(codes, 0, np.random.default_rng(0), count=17)
    qa = {turns[k]["content"]: turns[k + 1]["content"] for k in range(0, len(turns), 2)}
    assert len(qa) == 17  # every question, asked once
    assert qa["Is the person kneeling?"].startswith("Yes")
    assert qa["Is the left hand above the head?"].startswith("No")
    assert qa["Is the person's left knee bent?"].startswith("Yes, the left knee is bent at a right angle")
    assert qa["Is the left foot on the ground?"].startswith("Yes")
    # Over many poses, about half of the sampled answers are "yes".
    random_out = body(body_pose=torch.randn(100, 23, 3, generator=torch.Generator().manual_seed(0)) * 0.4, joints_only=True)
    random_codes = compute_posecodes(random_out.joints, random_out.rotmats)
    answers = [t["content"].startswith("Yes") for b in range(100)
               for t in chat_turns(random_codes, b, np.random.default_rng(b), 3) if t["role"] == "assistant"]
    assert 0.35 < np.mean(answers) < 0.65


def test_spg_descriptions_cover_every_canonical_pose_once():
    from posekit.corpus.splits import load_canonical

    spg = load_spg_descriptions()
    assert set(spg) == set(load_canonical())
    texts = [t for entry in spg.values() for t in entry["descriptions"]]
    assert all(len(entry["descriptions"]) >= 5 for entry in spg.values())
    assert len(texts) == len(set(texts))  # a description points at one pose only
    whos = [entry["who"] for entry in spg.values()]
    assert len(whos) == len(set(whos))


def test_describe_then_pose_states_each_target_before_its_pose(built, body):
    root, _ = built
    records = load_records("spg", "train", root=root)[:3] + load_records("pose2text", "train", root=root)[:1]
    two = Record(id="two", task="text2pose", split="train",
                 messages=[{"role": "user", "content": "Two poses."}, {"role": "assistant", "content": f"{POSE_TOKEN} and {POSE_TOKEN}"}],
                 target_poses=records[0].target_poses + records[1].target_poses)
    described = describe_then_pose([*records, two], body)
    targets = torch.cat([r.targets() for r in records[:2]])
    out = body(targets[:, 0], targets[:, 1:], joints_only=True)
    captions = Captioner()(out.joints, out.rotmats, seed=None)
    for before, after, caption in zip(records[:2], described[:2], captions):
        assert after.messages[-1]["content"] == f"{caption} {before.messages[-1]['content']}"
        assert after.messages[:-1] == before.messages[:-1] and after.target_poses == before.target_poses
        assert after.meta["described"] and "described" not in before.meta
    assert described[3] is records[3]  # no target pose: unchanged
    assert described[4].messages[-1]["content"] == f"Pose 1: {captions[0]} Pose 2: {captions[1]} {POSE_TOKEN} and {POSE_TOKEN}"
    assert [r.messages for r in describe_then_pose(records, body)] == [r.messages for r in described[:4]]  # deterministic


def test_recaptioned_draws_new_captions_for_the_same_training_poses(built, body):
    root, _ = built
    records = load_records("text2pose", "train", root=root)
    singles = [r for r in records if len(r.target_poses) == 1]
    distinct = {json.dumps(r.target_poses) for r in singles}
    extra = recaptioned(records, 2, seed=5, body=body)
    assert len(extra) == 2 * len(distinct)
    assert {json.dumps(r.target_poses) for r in extra} == distinct  # the same poses, no others
    assert all(r.split == "train" and r.task == "text2pose" and r.id.rsplit("-draw", 1)[1] in ("0", "1") for r in extra)
    stored = {r.meta["caption"] for r in singles}
    assert sum(r.meta["caption"] not in stored for r in extra) > len(extra) // 2  # mostly new wording
    first, second = extra[:len(distinct)], extra[len(distinct):]
    assert sum(a.meta["caption"] != b.meta["caption"] for a, b in zip(first, second)) > len(first) // 2
    for r in extra[:5]:
        assert r.meta["caption"] in r.messages[1]["content"] and r.messages[2]["content"].count(POSE_TOKEN) == 1
    assert [r.messages for r in recaptioned(records, 2, seed=5, body=body)] == [r.messages for r in extra]
    assert recaptioned(records, 0) == []


def test_an_interrupted_rebuild_leaves_the_old_dataset_whole(tiny_dataset, tmp_path):
    """Ctrl-C while a seed-1 rebuild writes its images over a seed-0 dataset: the seed-0 dataset
    stays as it was (verified against its manifest) and no half-built folder is left to load."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "data"
    shutil.copytree(tiny_dataset[0], target)
    code = (
        "import dataclasses\n"
        "from posekit.datasets import DatasetConfig, build_dataset\n"
        "from posekit.corpus.variants import SamplerConfig\n"
        "config = dataclasses.replace(DatasetConfig.quick(name='tiny', seed=1), scale=0.03,\n"
        "                             sampler=SamplerConfig(candidates_per_pose=8, keep_per_pose=3))\n"
        f"build_dataset(config, out_dir={str(target)!r}, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        images = list(tmp_path.glob(".data.tmp-*/images/rpe/*.png"))
        if images:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
    assert images, "the rebuild never reached its images"
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    assert proc.returncode != 0
    assert verify_dataset(root=target).ok  # every record and image is the seed-0 build's
    assert json.loads((target / "manifest.json").read_text())["config"]["seed"] == 0
    assert not list(tmp_path.glob(".data.tmp-*"))  # the partial build was removed


def test_rendering_in_worker_processes_gives_the_same_bytes(tiny_dataset, tmp_path, body):
    _, manifest, config = tiny_dataset
    parallel = build_dataset(config, out_dir=tmp_path / "parallel", body=body, progress=False, workers=2)
    assert parallel["files"] == manifest["files"] and parallel["images"] == manifest["images"]


def test_brief_recaptions_are_short_and_tagged(built, body):
    root, _ = built
    records = load_records("text2pose", "train", root=root)
    full = recaptioned(records, 1, seed=5, body=body)
    brief = recaptioned(records, 1, seed=5, body=body, max_facts=1)
    assert len(brief) == len(full) and all("-brief1-draw0" in r.id for r in brief)
    assert [r.target_poses for r in brief] == [r.target_poses for r in full]
    words = lambda rs: sum(len(r.meta["caption"].split()) for r in rs) / len(rs)  # noqa: E731
    assert words(brief) < 0.6 * words(full)


def test_instruction_recaptions_are_imperatives_a_person_types(built, body):
    from posekit.datasets.records import INSTRUCTION_REQUESTS

    root, _ = built
    records = load_records("text2pose", "train", root=root)
    full = recaptioned(records, 1, seed=5, body=body)
    told = recaptioned(records, 2, seed=5, body=body, style="instruction")
    assert len(told) == 2 * len(full) and all("-instruction-draw" in r.id for r in told)
    assert [r.target_poses for r in told[:len(full)]] == [r.target_poses for r in full]
    assert all(r.meta["style"] == "instruction" and "style" not in f.meta for r, f in zip(told, full))
    first_words = {r.meta["caption"].split()[0].lower() for r in told}
    assert first_words & {"raise", "lift", "bend", "lean", "kneel", "squat", "spread", "bring", "move", "stand"}
    assert not first_words & {"the", "their", "in", "here,", "this", "someone", "they"}  # no descriptions
    bare = sum(r.messages[1]["content"] == r.meta["caption"] for r in told)
    assert bare > len(told) // 3  # mostly typed as is (INSTRUCTION_REQUESTS: 3 of 5 bare)
    assert all(any(t.format(text=r.meta["caption"]) == r.messages[1]["content"] for t in INSTRUCTION_REQUESTS)
               for r in told)
    counts = [r.meta["caption"].count(",") + r.meta["caption"].count(" and ") + 1 for r in told]
    assert min(counts) == 1 and max(counts) >= 3  # 1 to 4 changes each
    assert [r.messages for r in recaptioned(records, 2, seed=5, body=body, style="instruction")] == [r.messages for r in told]
    with pytest.raises(ValueError, match="style"):
        recaptioned(records, 1, style="poem")
    with pytest.raises(ValueError, match="max_facts"):
        recaptioned(records, 1, style="instruction", max_facts=2)


def test_a_broken_render_pool_falls_back_once_for_every_block_in_flight(tmp_path, body):
    """Blocks already sent to a pool that broke (a script without a ``__main__`` guard) are all
    rendered in this process, with one warning; the second block used to crash the build."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from posekit.corpus.scenes import build_scene
    from posekit.corpus.splits import load_canonical
    from posekit.corpus.variants import entries_to_rotvec
    from posekit.datasets import SceneRenderer

    class BrokenPool:
        def submit(self, *args):
            future = Future()
            future.set_exception(BrokenProcessPool("a worker died"))
            return future

        def shutdown(self, **kwargs):
            pass

    entries, spg = load_canonical(), load_spg_descriptions()
    name = "sitting on a chair"
    scene = build_scene(body, entries_to_rotvec([entries[name]]), [name], [entries[name].category],
                        [spg[name]["who"]], np.random.default_rng(0), size=64)
    with SceneRenderer(body.faces, tmp_path, workers=1) as renderer:
        renderer.pool = BrokenPool()
        first = renderer.submit([(scene, "a.png")])
        second = renderer.submit([(scene, "b.png")])
        with pytest.warns(RuntimeWarning, match="rendering in this process"):
            joints_a = first()
        joints_b = second()  # no second warning, no crash
    assert torch.equal(joints_a[0], joints_b[0]) and joints_a[0].shape == (1, 24, 2)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_extra_edit_pairs_take_each_input_pose_to_another_training_pose_with_its_instruction(built, body):
    from posekit.language import instruct

    root, _ = built
    records = [r for task in ("text2pose", "edit") for r in load_records(task, "train", root=root)]
    edits = [r for r in records if r.task == "edit"]
    pool = {json.dumps(p) for r in records for p in (r.target_poses if r.task == "text2pose" and len(r.target_poses) == 1
                                                     else r.input_poses + r.target_poses if r.task == "edit" else [])}
    extra = extra_edit_pairs(records, 2, seed=3, body=body)
    assert 0.9 * 2 * len(edits) <= len(extra) <= 2 * len(edits)  # only "Keep the same pose." pairs left out
    sources = {r.id: r for r in edits}
    for r in extra:
        source = sources[r.id.rsplit("-pair", 1)[0]]
        assert r.task == "edit" and r.split == source.split and r.input_poses == source.input_poses
        assert json.dumps(r.target_poses[0]) in pool and r.target_poses[0] != r.input_poses[-1]
        assert r.meta["instruction"] in r.messages[1]["content"] and POSE_IN_TOKEN in r.messages[1]["content"]
    assert len({json.dumps(r.target_poses) for r in extra}) > len(extra) // 3  # many different targets
    same = sum(r.meta["source_a"] == r.meta["source_b"] for r in extra)
    assert 0.3 * len(extra) < same < 0.9 * len(extra)  # 60 % drawn from the same source pose, some of the rest too
    # the instruction is PoseFix's for that very pair (the first pair's wording seed: seed * 1000)
    r = extra[0]
    assert r.id == edits[0].id + "-pair0"
    a, b = (body(p[:, 0], p[:, 1:], joints_only=True) for p in (r.inputs(), r.targets()))
    assert instruct(a.joints, b.joints, a.rotmats, b.rotmats, seed=3000) == [r.meta["instruction"]]
    assert [x.messages for x in extra_edit_pairs(records, 2, seed=3, body=body)] == [x.messages for x in extra]
    assert extra_edit_pairs(records, 0) == []
    with pytest.raises(ValueError, match="draws"):
        extra_edit_pairs(records, -1)


def test_extra_training_renders_leave_every_other_record_as_it_was(tiny_dataset, tmp_path, body):
    import dataclasses

    root, manifest, config = tiny_dataset
    extra = dataclasses.replace(config, image2pose_train_extra=300)  # x 0.03 scale: 9 renders
    grown = build_dataset(extra, out_dir=tmp_path / "grown", body=body, progress=False)
    changed = {f for f in manifest["files"] if grown["files"][f] != manifest["files"][f]}
    assert changed == {"image2pose/train.jsonl"}
    before = load_records("image2pose", "train", root=root)
    after = load_records("image2pose", "train", root=tmp_path / "grown")
    assert [r.to_json() for r in after[:len(before)]] == [r.to_json() for r in before]
    added = after[len(before):]
    assert len(added) == 9 and all(r.split == "train" and r.image for r in added)
    assert len({r.id for r in after}) == len(after)  # ids (and image files) do not collide
    assert all(grown["images"][r.image] for r in added) and set(manifest["images"]) < set(grown["images"])
    assert all(grown["images"][k] == v for k, v in manifest["images"].items())
    with pytest.raises(ValueError, match="image2pose_train_extra"):
        dataclasses.replace(config, image2pose_train_extra=-1)


def test_records_are_checked_against_the_manifest_when_loaded(tiny_dataset, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(tiny_dataset[0], root)
    assert load_records("spg", "train", root=root)
    with pytest.raises(ValueError, match="no task 'spgg'.*tasks are text2pose"):
        load_records("spgg", "train", root=root)
    with pytest.raises(ValueError, match="split 'tset'"):
        load_records("spg", "tset", root=root)
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_records("spg", "train", root=root / "manifest.json")
    path = root / "spg" / "train.jsonl"
    path.write_text(path.read_text().replace("a", "b", 1))  # one character edited
    with pytest.raises(DatasetError, match="differs from what its manifest records"):
        load_records("spg", "train", root=root)


def test_fewer_image_records_leave_every_text_record_as_it_was(tiny_dataset, tmp_path, body):
    """What DatasetConfig.evaluation relies on: image counts change image files only."""
    import dataclasses

    root, manifest, config = tiny_dataset
    fewer = dataclasses.replace(config, image2pose_count=config.image2pose_count // 4, rpe_scenes=config.rpe_scenes // 4)
    small = build_dataset(fewer, out_dir=tmp_path / "small", body=body, progress=False)
    changed = {f.split("/")[0] for f in manifest["files"] if small["files"][f] != manifest["files"][f]}
    assert changed == {"image2pose", "rpe"}
    assert small["counts"]["image2pose"]["test"] < manifest["counts"]["image2pose"]["test"]
    from posekit.datasets import DatasetConfig

    evaluation = DatasetConfig.evaluation()
    assert (evaluation.image2pose_train_extra, evaluation.image2pose_count, evaluation.rpe_scenes) == (0, 1000, 750)


def test_a_record_file_is_hashed_once_per_version(tiny_dataset, tmp_path, monkeypatch):
    import os
    import shutil

    from posekit.datasets import store

    root = tmp_path / "copy"
    shutil.copytree(tiny_dataset[0], root)
    hashed = []
    real = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda path: hashed.append(path) or real(path))
    for _ in range(3):
        load_records("spg", "train", root=root)
    assert len(hashed) == 1  # checked the first time only
    path = root / "spg" / "train.jsonl"
    path.write_text(path.read_text().replace("a", "b", 1))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))  # a later version, whatever the clock's grain
    with pytest.raises(DatasetError, match="differs from what its manifest records"):
        load_records("spg", "train", root=root)
    assert len(hashed) == 2
