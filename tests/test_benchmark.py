import pandas as pd
import pytest
import torch

from posekit.cli import main
from posekit.datasets import load_records
from posekit.evaluation.benchmark import EVAL_TASKS, benchmark, evaluate, evaluate_model, evenly, pose_table
from posekit.models.baselines import TEXT_QUERY_BASELINES, CopyInput, LabelNearest, MeanPose, make_baseline, query_text
from posekit.evaluation.retrieval import TextPoseRetrieval


@pytest.mark.parametrize("task,name", [(t, m) for t in EVAL_TASKS for m in ("mean", "nearest", "soft-nearest", "label-nearest", "regressor", "copy")
                                       if not (m == "copy" and t != "edit")
                                       and not (m in TEXT_QUERY_BASELINES and t in ("image2pose", "rpe"))])
def test_every_baseline_runs_on_every_task(tiny_dataset, body, task, name):
    root = tiny_dataset[0]
    result = evaluate_model(name, task, root=root, split="test", limit=40, body=body,
                               retrieval=TextPoseRetrieval().eval(), write_csv=False)
    assert set(result.per_sample.columns) >= {"id", "MPJPE", "PA-MPJPE", "MPVPE", "MPJRE", "posecode_F1", "query"}
    row = result.summary.iloc[0]
    assert row["task"] == task and row["model"] == name and row["samples"] == len(result.per_sample)
    assert 0 <= row["PA-MPJPE"] <= row["MPJPE"] + 1e-3 and row["MPJPE"] < 1000
    assert result.predictions.shape == result.targets.shape


def test_perfect_and_copy_models_score_as_expected(tiny_dataset, body):
    root = tiny_dataset[0]
    records = load_records("edit", "test", root=root)[:20]

    class Oracle:
        name = "oracle"

        def predict(self, recs, root=None):
            return torch.stack([r.targets()[0] for r in recs])

    perfect = evaluate(Oracle(), "edit", records, root, body=body).summary.iloc[0]
    assert perfect["MPJPE"] < 1e-3 and perfect["MPJRE"] < 1e-2 and perfect["posecode_F1"] == pytest.approx(100)
    copy = evaluate(CopyInput(), "edit", records, root, body=body).summary.iloc[0]
    mean = evaluate(MeanPose().fit(load_records("edit", "train", root=root)), "edit", records, root, body=body).summary.iloc[0]
    assert copy["MPJPE"] > 0 and mean["MPJPE"] > 0
    assert mean["spread"] < 1e-2 and perfect["spread"] > 5  # one pose for all vs the targets' own spread


def test_text_tasks_report_retrieval_under_both_protocols(tiny_dataset, body):
    root = tiny_dataset[0]
    result = evaluate_model("nearest", "spg", root=root, body=body, retrieval=TextPoseRetrieval().eval(), write_csv=False)
    assert list(result.summary.protocol) == ["retrieval, full", "retrieval, pool of 32"]
    assert result.summary[["t2p_R@1", "t2p_R@10", "mRecall"]].notna().all().all()


def test_baseline_registry_refuses_nonsense():
    with pytest.raises(ValueError, match="copy"):
        make_baseline("copy", "spg")
    with pytest.raises(ValueError, match="text query"):
        make_baseline("nearest", "rpe")
    with pytest.raises(ValueError, match="unknown model"):
        make_baseline("chatgpt", "spg")


def test_soft_nearest_is_the_nearest_neighbour_at_k_1_and_the_mean_pose_when_it_weighs_all_alike(tiny_dataset):
    from posekit.models.baselines import NearestNeighbour, SoftNearest

    root = tiny_dataset[0]
    train, test = load_records("spg", "train", root=root), load_records("spg", "test", root=root)[:12]
    nearest = NearestNeighbour().fit(train).predict(test)
    assert torch.allclose(SoftNearest(k=1).fit(train).predict(test), nearest, atol=1e-4)
    alike = SoftNearest(k=len(train), temperature=1e6).fit(train).predict(test, chunk=5)  # chunks joined in order
    assert torch.allclose(alike, MeanPose().fit(train).pose.expand(len(test), -1, -1), atol=1e-4)
    hedged = SoftNearest().fit(train).predict(test)
    assert not torch.allclose(hedged, nearest, atol=1e-3) and hedged.shape == (12, 24, 3)
    with pytest.raises(ValueError, match="k >= 1"):
        SoftNearest(k=0)
    with pytest.raises(ValueError, match="soft-nearest baseline needs a text query"):
        make_baseline("soft-nearest", "image2pose")


def test_query_text_prefers_the_stored_description(tiny_dataset):
    record = load_records("spg", "train", root=tiny_dataset[0])[0]
    assert query_text(record) == record.meta["description"]


def test_eval_cli_writes_the_expected_columns(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEKIT_REPORTS", str(tmp_path))
    assert main(["eval", "--task", "edit", "--model", "copy", "--root", str(tiny_dataset[0]), "--limit", "40"]) == 0
    table = pd.read_csv(tmp_path / "eval" / "results.csv")
    assert list(table.columns[:8]) == ["task", "model", "protocol", "MPJPE", "PA-MPJPE", "MPVPE", "MPJRE", "posecode_F1"]
    assert {"mRecall", "samples", "seed"} <= set(table.columns)
    assert table.protocol.tolist() == ["pose metrics"]  # an instruction does not describe the pose
    assert (tmp_path / "eval" / "edit_copy.csv").is_file() and "copy" in capsys.readouterr().out
    assert (tmp_path / "eval" / "edit_mpjpe.html").stat().st_size > 10_000


def test_evenly_spreads_over_the_split():
    assert evenly(list(range(10)), 3) == [0, 3, 6] and evenly(list(range(4)), None) == [0, 1, 2, 3]
    assert evenly(list(range(4)), 10) == [0, 1, 2, 3]


def test_benchmark_runs_every_applicable_pair(tiny_dataset, body):
    table, results = benchmark(tasks=("edit", "rpe"), models=("mean", "nearest", "copy"), root=tiny_dataset[0],
                               limit=10, body=body)
    assert sorted(results) == [("edit", "copy"), ("edit", "mean"), ("edit", "nearest"), ("rpe", "mean")]
    pivot = pose_table(table)
    assert pivot.loc["copy", ("PA-MPJPE", "edit")] == pytest.approx(results[("edit", "copy")].summary["PA-MPJPE"][0], abs=0.05)
    assert pivot[("MPJPE", "rpe")].notna().sum() == 1  # only the mean pose applies to rpe here
    assert pivot.loc["mean", ("spread", "edit")] == 0 and pivot.loc["copy", ("spread", "edit")] > 5
    older = pose_table(table.drop(columns="spread"))  # a table stored before the column existed
    assert "spread" not in older.columns.get_level_values(0) and older.shape[0] == pivot.shape[0]


def test_compare_gives_intervals_per_subset():
    import pandas as pd

    from posekit.evaluation.benchmark import EvalResult, compare

    gen = torch.Generator().manual_seed(0)
    ids = [f"r{i}" for i in range(200)]
    subset = ["unseen pose"] * 100 + ["unseen description"] * 100
    ref = pd.DataFrame({"id": ids, "PA-MPJPE": (torch.randn(200, generator=gen) * 10 + 150).numpy(),
                        "posecode_F1": (torch.randn(200, generator=gen) * 5 + 60).numpy(), "subset": subset})
    better = ref.copy()
    better["PA-MPJPE"] = ref["PA-MPJPE"] - 8  # 8 mm better everywhere
    better["posecode_F1"] = ref["posecode_F1"] + torch.randn(200, generator=gen).numpy() * 0.01
    empty = torch.zeros(0)
    results = {"mean": EvalResult(pd.DataFrame(), ref, empty, empty),
               "model": EvalResult(pd.DataFrame(), better, empty, empty)}
    table = compare(results, "mean")
    assert set(table["subset"]) == {"all", "unseen pose", "unseen description"}
    row = table[(table.subset == "all") & (table.metric == "PA-MPJPE")].iloc[0]
    assert row.verdict == "better" and row.ci_high < 0 and abs(row.difference + 8) < 1e-6
    f1 = table[(table.subset == "all") & (table.metric == "posecode_F1")].iloc[0]
    assert f1.verdict == "within noise"


def test_pose2text_descriptions_are_ranked_against_their_poses():
    from posekit.datasets.records import POSE_IN_TOKEN, Record
    from posekit.evaluation.benchmark import evaluate_descriptions

    gen = torch.Generator().manual_seed(0)
    records = [Record(id=f"p{i}", task="pose2text", split="test", input_poses=[(torch.randn(24, 3, generator=gen) * 0.3).tolist()],
                      messages=[{"role": "user", "content": f"{POSE_IN_TOKEN} Describe it."},
                                {"role": "assistant", "content": f"Pose number {i}."}]) for i in range(40)]
    from posekit.encoders.text import get_text_encoder

    truth = [r.messages[-1]["content"] for r in records]

    class Matching:
        """A retrieval stub whose pose embedding of record i is the text embedding of its own answer."""

        encode_text = staticmethod(lambda emb: emb)
        encode_pose = staticmethod(lambda poses: get_text_encoder().encode(truth))

    retrieval = Matching()
    perfect = evaluate_descriptions(truth, records, retrieval, "captioner").set_index("protocol")
    assert perfect.loc["retrieval, pool of 32", "t2p_R@1"] == 100.0
    table = evaluate_descriptions(["A person is standing."] * 40, records, retrieval, "constant")
    assert list(table["protocol"]) == ["retrieval, full", "retrieval, pool of 32"]
    assert table.set_index("protocol").loc["retrieval, pool of 32", "t2p_R@1"] < 15  # chance: 1 in 32
    assert (table["samples"] == 40).all() and (table["task"] == "pose2text").all()
    with pytest.raises(ValueError, match="at least 32"):
        evaluate_descriptions(["x"] * 10, records[:10], retrieval, "few")


def test_baselines_can_be_fitted_on_a_bounded_training_subset(tiny_dataset, body):
    root = tiny_dataset[0]
    full = evaluate_model("mean", "spg", root=root, limit=4, body=body, retrieval=None, write_csv=False)
    few = evaluate_model("mean", "spg", root=root, limit=4, body=body, retrieval=None, write_csv=False, train_limit=3)
    assert full.per_sample["id"].tolist() == few.per_sample["id"].tolist()  # the same test records
    assert not torch.equal(full.predictions, few.predictions)  # a mean over 3 training poses, not all


def test_label_nearest_answers_its_own_labels_with_their_poses():
    from posekit.corpus.library import canonical_poses
    from posekit.datasets.plain import pose_labels

    names = ["hands on hips", "kneeling on one knee", "lying face down", "clapping"]
    model = LabelNearest().fit_poses(names)
    labels = pose_labels(names, plain=True)  # every label the model's memory reads, plain requests included
    assert len(labels) > len(pose_labels(names))
    poses = canonical_poses(names)
    answers = model.answer([text for text, _ in labels])
    expected = torch.stack([poses[name] for _, name in labels])
    assert torch.equal(answers, expected)
    assert model.nearest(["put your fists on your hips"]) == ["hands on hips"]  # not a label: nearest by meaning


def test_label_nearest_answers_only_with_the_training_poses(tiny_dataset):
    root = tiny_dataset[0]
    train = load_records("spg", "train", root=root)
    model = LabelNearest().fit(train)
    assert set(model.names) == {r.meta["source"] for r in train}
    assert model.predict(load_records("spg", "test", root=root)[:5]).shape == (5, 24, 3)


def test_part_nearest_composes_the_parts_each_clause_names():
    from posekit.body.parts import PART_JOINTS
    from posekit.corpus.library import canonical_poses
    from posekit.models.baselines import PartNearest

    names = ["standing", "squatting", "reaching up with both hands", "hands on hips"]
    model = PartNearest().fit_poses(names)
    poses = canonical_poses(names)
    out = model.compose(["squat down with both arms reaching up to the sky"])[0]
    arms = list(PART_JOINTS["left_arm"] + PART_JOINTS["right_arm"])
    legs = list(PART_JOINTS["left_leg"] + PART_JOINTS["right_leg"])
    assert torch.equal(out[legs], poses["squatting"][legs])
    assert torch.equal(out[arms], poses["reaching up with both hands"][arms])
    # an edit starts from the given pose: only the arms change
    edited = model.compose(["put your hands on your hips"], [poses["squatting"]])[0]
    assert torch.equal(edited[legs], poses["squatting"][legs])
    assert torch.equal(edited[arms], poses["hands on hips"][arms])
    # one clause and no starting pose: the label look-up's answer
    assert torch.equal(model.compose(["squat down"])[0], model.answer(["squat down"])[0])
