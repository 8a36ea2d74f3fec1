"""Decoders that read the request's words (designs M and N): the retrieval memory recalls the
poses of the nearest labels, the recall block starts as the identity, image requests never pass
through it, and it trains to use what it recalls."""
import dataclasses

import pytest
import torch
from posefixtures import random_states

from posekit.body.rotations import rot6d_to_rotvec
from posekit.datasets.records import POSE_TOKEN, Record
from posekit.models.decoder import DecoderTrainConfig, PoseDecoder, PoseDecoderConfig, StatePoseModel, train_pose_decoder
from posekit.models.decoder.recall import LabelMemory, RecallInputs

BASE = PoseDecoderConfig(state_dim=16, width=32, layers=1, heads=4, dropout=0.0)
POSES = 6


def _memory(seed: int = 0) -> LabelMemory:
    """Two labels per pose, unit keys in 8 random directions padded to 384."""
    gen = torch.Generator().manual_seed(seed)
    keys = torch.nn.functional.normalize(torch.randn(2 * POSES, 384, generator=gen), dim=1)
    table = torch.randn(POSES, 24, 3, generator=gen) * 0.4
    return LabelMemory([f"label {k}" for k in range(2 * POSES)], keys, torch.arange(2 * POSES) // 2, table,
                       [f"pose {p}" for p in range(POSES)])


def _config(recall: int = 2, sentence: bool = True) -> PoseDecoderConfig:
    return dataclasses.replace(BASE, recall=recall, sentence_dim=384 if sentence else 0, recall_labels=2 * POSES,
                               recall_poses=POSES)


def _states(n: int, seed: int = 0):
    return random_states(n, BASE.state_dim, seed, lengths=(3, 6))


def test_recall_returns_the_poses_of_the_nearest_labels_and_leaves_out_the_excluded():
    memory = _memory()
    decoder = PoseDecoder(_config(recall=2))
    decoder.set_label_memory(memory.keys, memory.owner, memory.table)
    poses, scores = decoder.recall(memory.keys[[4, 9]])  # label 4 belongs to pose 2, label 9 to pose 4
    assert torch.equal(poses[:, 0], memory.table[[2, 4]]) and torch.allclose(scores[:, 0], torch.ones(2))
    assert (scores[:, 0] >= scores[:, 1]).all()
    excluded, _ = decoder.recall(memory.keys[[4]], exclude=[[4, 5]])  # both of pose 2's labels left out
    assert not torch.equal(excluded[0, 0], memory.table[2])
    with pytest.raises(ValueError, match="does not fit"):
        decoder.set_label_memory(memory.keys[:3], memory.owner[:3], memory.table)


def test_recall_parts_added_to_a_trained_decoder_start_as_the_identity_and_skip_image_requests():
    torch.manual_seed(0)
    trained = PoseDecoder(BASE).eval()
    torch.nn.init.normal_(trained.out.weight, std=0.1)
    grown = PoseDecoder(_config()).eval()
    grown.load_state_dict(trained.state_dict(), strict=False)
    memory = _memory()
    grown.set_label_memory(memory.keys, memory.owner, memory.table)
    states, mask = _states(3).padded(range(3))
    sentences = memory.keys[:3]
    assert torch.equal(grown(states, mask, sentences=sentences), trained(states, mask))
    for p in grown.recall_choice.parameters():  # as if trained: text answers move, image answers never do
        torch.nn.init.normal_(p, std=0.5)
    assert not torch.allclose(grown(states, mask, sentences=sentences), trained(states, mask), atol=1e-3)
    image = torch.randn(3, BASE.image_tokens, BASE.image_dim)
    assert torch.equal(grown(states, mask, image=image, sentences=sentences), trained(states, mask, image=image))
    with pytest.raises(ValueError, match="sentences="):
        grown(states, mask)


def test_a_recall_stage_learns_to_answer_with_the_recalled_pose_when_the_states_say_nothing(tmp_path):
    """States are noise; each request's sentence sits near one label: only the recalled pose tells
    the target. Training the recall parts alone gets far below the best constant answer."""
    memory = _memory()
    gen = torch.Generator().manual_seed(1)

    def split(n: int, seed: int):
        owners = torch.randint(0, POSES, (n,), generator=torch.Generator().manual_seed(seed))
        sentences = torch.nn.functional.normalize(memory.keys[2 * owners] + 0.02 * torch.randn(n, 384, generator=gen), dim=1)
        records = [Record(id=f"r{i}", task="text2pose", split="train",
                          messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": POSE_TOKEN}],
                          target_poses=[memory.table[int(o)].tolist()]) for i, o in enumerate(owners)]
        return records, _states(n, seed), RecallInputs(sentences, [[] for _ in range(n)])

    (tr, tr_states, tr_recall), (va, va_states, va_recall) = split(192, 2), split(48, 3)
    first, _ = train_pose_decoder(tr, tr_states, va, va_states, BASE, DecoderTrainConfig(epochs=2, batch_size=32),
                                  progress=False)
    torch.nn.init.normal_(first.out.weight, std=0.3)  # an output layer that reads its features, as a trained one does
    config = _config()
    decoder, history = train_pose_decoder(tr, tr_states, va, va_states, config,
                                          DecoderTrainConfig(epochs=15, batch_size=32, lr=3e-3, patience=15,
                                                             trainable="recall"),
                                          progress=False, init=first, memory=memory, train_recall=tr_recall,
                                          val_recall=va_recall)
    from posekit.body.rotations import rotvec_to_rot6d
    from posekit.models.baselines import MeanPose
    from posekit.models.losses import pose_loss

    constant = pose_loss(rotvec_to_rot6d(MeanPose().fit(tr).pose).expand(len(va), -1, -1),
                         torch.stack([r.targets()[0] for r in va])).item()
    assert min(h["val_loss"] for h in history) < 0.5 * constant  # the best constant answer: the mean pose
    for name, value in decoder.state_dict().items():  # only the recall parts trained
        if not name.startswith(("recall_", "sentence_")):
            assert torch.equal(value, first.state_dict()[name]), name
    # the memory travels with the decoder file
    path = StatePoseModel(decoder, 1, "tiny").save(tmp_path / "m.pt")
    loaded = StatePoseModel.load(path).decoder
    assert torch.allclose(loaded.recall_table, memory.table, atol=1e-3) and loaded.config == decoder.config
    states, mask = va_states.padded(range(4))
    answer = rot6d_to_rotvec(loaded(states, mask, sentences=va_recall.sentences[:4]))
    assert answer.shape == (4, 24, 3)
    with pytest.raises(ValueError, match="memory="):
        train_pose_decoder(tr, tr_states, va, va_states, config, DecoderTrainConfig(epochs=1), progress=False)


def test_states_cached_in_parts_join_in_order():
    a, b = _states(3, 0), _states(2, 1)
    joined = a + b
    assert len(joined) == 5 and torch.equal(joined[3], b[0]) and torch.equal(joined[2], a[2])
    with pytest.raises(ValueError, match="cannot join"):
        a + dataclasses.replace(b, layer=2)
