import pandas as pd
import pytest

from posekit.evaluation.findings import best_model_sentence, comparison_sentence, comparison_sentences, key_comparisons


def _row(verdict, difference, low, high, metric="PA-MPJPE", subset="all"):
    return pd.Series({"task": "spg", "model": "chatpose", "reference": "mean", "subset": subset, "metric": metric,
                      "model_value": 140.0, "reference_value": 140.0 - difference, "difference": difference,
                      "ci_low": low, "ci_high": high, "verdict": verdict})


def test_a_win_names_the_model_and_a_loss_names_the_baseline():
    win = comparison_sentence(_row("better", -3.2, -5.4, -1.1))
    loss = comparison_sentence(_row("worse", 4.0, 1.0, 7.0))
    assert win.startswith("ChatPose is better than the mean pose on PA-MPJPE")
    assert loss.startswith("The mean pose is better than ChatPose on PA-MPJPE")
    assert "-3.2 mm [-5.4, -1.1]" in win and "+4.0 mm [+1.0, +7.0]" in loss


def test_an_interval_through_zero_is_called_level_never_a_win():
    text = comparison_sentence(_row("within noise", -2.5, -6.7, 1.5))
    assert "level" in text and "better" not in text and "includes zero" in text


def test_f1_sentences_use_points_and_subsets_are_named():
    text = comparison_sentence(_row("better", 2.9, 2.2, 3.5, metric="posecode_F1", subset="unseen pose"))
    assert "posecode F1 (unseen pose)" in text and "+2.9 points" in text


def test_only_the_asked_model_and_subset_are_described():
    frame = pd.DataFrame([_row("better", -3.2, -5.4, -1.1), _row("worse", 1.0, 0.5, 2.0, subset="unseen pose")])
    assert len(comparison_sentences(frame)) == 1 and len(comparison_sentences(frame, subset=None)) == 2
    assert list(key_comparisons(frame).verdict) == ["better"]


def test_the_best_model_is_read_from_the_table():
    table = pd.DataFrame({"task": ["spg"] * 3, "model": ["mean", "chatpose", "regressor"],
                          "protocol": ["pose metrics"] * 3, "PA-MPJPE": [147.6, 144.4, 150.1]})
    assert best_model_sentence(table, "spg") == ("On spg, the best PA-MPJPE is ChatPose's (144.4), "
                                                 "then the mean pose's (147.6).")
    with pytest.raises(ValueError, match="no PA-MPJPE rows"):
        best_model_sentence(table, "rpe")
