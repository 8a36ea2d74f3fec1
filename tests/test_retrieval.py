import pytest
import torch

from posekit.datasets import load_records
from posekit.encoders.text import get_text_encoder
from posekit.evaluation.metrics import recall_at_k
from posekit.evaluation.retrieval import (
    RetrievalConfig,
    TextPoseRetrieval,
    load_retrieval,
    retrieval_pairs,
    train_retrieval,
)


@pytest.fixture(scope="module")
def test_pairs(tiny_dataset):
    root = tiny_dataset[0]
    texts, poses = retrieval_pairs(load_records("text2pose", "test", root=root), unique_poses=True)
    return get_text_encoder().encode(texts), poses


def test_shipped_checkpoint_retrieves_far_above_chance(test_pairs):
    model = load_retrieval()
    assert model.meta["test_full"]["mRecall"] > 25.0  # measured when the checkpoint was trained
    text, poses = test_pairs
    with torch.no_grad():
        scores = recall_at_k(model.encode_text(text), model.encode_pose(poses))
    chance = 100 * 10 / len(poses)
    assert len(poses) >= 50
    assert scores.text_to_pose[10] > 3 * chance and scores.pose_to_text[10] > 3 * chance


def test_training_lowers_the_loss_and_beats_an_untrained_model(tiny_dataset):
    root = tiny_dataset[0]
    texts, poses = retrieval_pairs(load_records("text2pose", "train", root=root))
    emb = get_text_encoder().encode(texts)
    config = RetrievalConfig(epochs=30, batch_size=64)
    model, history = train_retrieval(emb, poses, config, progress=False)
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    untrained = TextPoseRetrieval(config).eval()
    with torch.no_grad():
        trained = recall_at_k(model.encode_text(emb), model.encode_pose(poses), protocol="pool").mean_recall
        baseline = recall_at_k(untrained.encode_text(emb), untrained.encode_pose(poses), protocol="pool").mean_recall
    assert trained > baseline + 20


def test_pairs_and_config_validation(tiny_dataset):
    records = load_records("pose2text", "test", root=tiny_dataset[0])
    texts, poses = retrieval_pairs(records)
    assert len(texts) == len(poses) == len(records)
    with pytest.raises(ValueError, match="caption"):
        retrieval_pairs(load_records("spg", "test", root=tiny_dataset[0]))
    with pytest.raises(ValueError, match="temperature"):
        RetrievalConfig(temperature=2.0)
