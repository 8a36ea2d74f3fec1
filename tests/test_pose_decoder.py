import dataclasses

import pytest
import torch

from posekit.conversations import POSE_TOKEN, Record
from posekit.pose_decoder import DecoderTrainConfig, PoseDecoder, PoseDecoderConfig, StatePoseModel, train_pose_decoder
from posekit.rotations import rot6d_to_rotvec, rotvec_to_rot6d
from posekit.states import RequestStates

CONFIG = PoseDecoderConfig(state_dim=16, width=32, layers=1, heads=4, dropout=0.0)


def _states(n: int, seed: int = 0) -> RequestStates:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 9, (n,), generator=gen)
    flat = torch.randn(int(lengths.sum()), CONFIG.state_dim, generator=gen).half()
    return RequestStates(flat, torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]), 1, "tiny")


def test_starts_at_the_mean_pose():
    mean = torch.randn(24, 3) * 0.3
    decoder = PoseDecoder(CONFIG, mean)
    states, mask = _states(4).padded(range(4))
    out = decoder(states, mask)
    assert out.shape == (4, 24, 6)
    assert torch.allclose(rot6d_to_rotvec(out), mean.expand(4, -1, -1), atol=1e-4)


def test_output_depends_on_the_memory_and_ignores_padding():
    torch.manual_seed(0)
    decoder = PoseDecoder(CONFIG).eval()
    torch.nn.init.normal_(decoder.out.weight, std=0.1)  # leave the mean-pose start
    states, mask = _states(2).padded([0, 1])
    a, b = decoder(states[:1], mask[:1]), decoder(states[1:], mask[1:])
    assert not torch.allclose(a, b, atol=1e-3)  # two requests -> two poses
    # Padding never changes the answer: the same request padded wider gives the same pose.
    wide = torch.cat([states[:1], torch.randn(1, 5, CONFIG.state_dim)], 1)
    wide_mask = torch.cat([mask[:1], torch.zeros(1, 5, dtype=torch.bool)], 1)
    assert torch.allclose(decoder(wide, wide_mask), a, atol=1e-5)
    # An input pose changes it too (edit requests), and so does the pose's index in the answer.
    pose = torch.randn(1, 24, 3) * 0.3
    assert not torch.allclose(decoder(states[:1], mask[:1], pose), a, atol=1e-3)
    torch.nn.init.normal_(decoder.index_embed, std=0.5)
    assert not torch.allclose(decoder(states[:1], mask[:1], pose_index=torch.tensor([1])), a, atol=1e-3)


def _records(n: int, seed: int) -> tuple[list[Record], RequestStates]:
    """Requests whose (random) states determine their target: pose = f(mean state)."""
    states = _states(n, seed)
    proj = torch.randn(CONFIG.state_dim, 24 * 3, generator=torch.Generator().manual_seed(99)) * 0.2
    records = []
    for i in range(n):
        target = torch.tanh(states[i].float().mean(0) @ proj).reshape(24, 3)
        records.append(Record(id=f"r{i}", task="text2pose", split="train",
                              messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": POSE_TOKEN}],
                              target_poses=[target.tolist()]))
    return records, states


def test_training_learns_a_mapping_from_the_states():
    train_records, train_states = _records(256, 0)
    val_records, val_states = _records(64, 1)
    decoder, history = train_pose_decoder(train_records, train_states, val_records, val_states, CONFIG,
                                          DecoderTrainConfig(epochs=25, batch_size=32, lr=3e-3, patience=25),
                                          progress=False)
    assert history[-1]["train_loss"] < 0.8 * history[0]["train_loss"]
    best = min(h["val_loss"] for h in history)
    # Better than the best constant answer (the mean pose the decoder started from).
    from posekit.baselines import MeanPose
    from posekit.pose_decoder import pose_loss

    mean = MeanPose().fit(train_records).pose
    constant = pose_loss(rotvec_to_rot6d(mean).expand(64, -1, -1), torch.stack([r.targets()[0] for r in val_records]))
    assert best < 0.9 * constant.item()


def test_save_and_load_round_trip(tmp_path):
    decoder = PoseDecoder(CONFIG, torch.randn(24, 3) * 0.2).eval()
    path = StatePoseModel(decoder, 1, "tiny").save(tmp_path / "d.pt", {"tasks": ["text2pose"]})
    loaded = StatePoseModel.load(path)
    assert loaded.layer == 1 and loaded.decoder.config == CONFIG
    states, mask = _states(3).padded(range(3))
    assert torch.allclose(loaded.decoder(states, mask), decoder(states, mask), atol=2e-3)  # float16 storage


def test_config_is_checked():
    with pytest.raises(ValueError, match="divisible"):
        dataclasses.replace(CONFIG, width=30)


def test_joint_loss_is_zero_on_the_target_and_grows_with_the_error(body):
    from posekit.pose_decoder import joint_loss

    target = torch.randn(4, 24, 3) * 0.3
    six_d = rotvec_to_rot6d(target).requires_grad_(True)
    assert joint_loss(body, six_d, target).item() < 1e-6
    moved = target.clone()
    moved[:, 16] += 0.5  # the left shoulder turns: the whole left arm moves
    far = joint_loss(body, rotvec_to_rot6d(moved), target)
    assert far.item() > 0.005
    joint_loss(body, six_d + 0.1, target).backward()
    assert six_d.grad.abs().sum() > 0  # differentiable through forward kinematics


def test_train_config_is_checked():
    with pytest.raises(ValueError, match="joint_weight"):
        DecoderTrainConfig(joint_weight=-1.0)


def test_a_stopped_run_resumes_exactly(tmp_path):
    train_records, train_states = _records(96, 0)
    val_records, val_states = _records(32, 1)
    settings = DecoderTrainConfig(epochs=4, batch_size=32, patience=10)
    full, full_history = train_pose_decoder(train_records, train_states, val_records, val_states, CONFIG, settings,
                                            progress=False)
    ckpt = tmp_path / "run.pt"

    def stop_after_two(row):  # Ctrl-C in the middle of the run
        if row["epoch"] == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_pose_decoder(train_records, train_states, val_records, val_states, CONFIG, settings, progress=False,
                           checkpoint=ckpt, log=stop_after_two)
    ran = []
    resumed, history = train_pose_decoder(train_records, train_states, val_records, val_states, CONFIG, settings,
                                          progress=False, checkpoint=ckpt, log=lambda row: ran.append(row["epoch"]))
    assert ran == [2, 3, 4]  # it resumed after the last finished epoch, it did not start over
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in full_history]
    for a, b in zip(resumed.state_dict().values(), full.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="another run"):
        train_pose_decoder(train_records, train_states, val_records, val_states, CONFIG,
                           dataclasses.replace(settings, lr=1e-3), progress=False, checkpoint=ckpt)


def test_image_detail_tokens_are_read_and_their_width_checked(tmp_path):
    torch.manual_seed(0)
    config = dataclasses.replace(CONFIG, image_dim=16, image_tokens=4, image_detail_dim=8)
    decoder = PoseDecoder(config).eval()
    torch.nn.init.normal_(decoder.out.weight, std=0.1)
    states, mask = _states(1).padded([0])
    image = torch.randn(1, 4, 16 + 8)
    memory, memory_mask = decoder.memory(states, mask, image=image)
    assert memory.shape[1] == states.shape[1] + 4 + 4 * 4 and memory_mask.all()  # 4 tokens + 2 x 2 cells each
    changed = image.clone()
    changed[..., 16:] = torch.randn(1, 4, 8)  # only the detail cells differ (a shift alone would be layer-normed away)
    assert not torch.allclose(decoder(states, mask, image=image), decoder(states, mask, image=changed), atol=1e-4)
    with pytest.raises(ValueError, match="another vision encoder"):
        decoder(states, mask, image=image[..., :16])
    with pytest.raises(ValueError, match="multiple of 4"):
        dataclasses.replace(CONFIG, image_detail_dim=6)
    path = StatePoseModel(decoder, 1, "tiny", vision="efficientnet-lite0-detail").save(tmp_path / "d.pt")
    assert StatePoseModel.load(path).vision == "efficientnet-lite0-detail"


def test_train_config_checks_the_caption_draws():
    with pytest.raises(ValueError, match="brief"):
        DecoderTrainConfig(brief_draws=-1)
    with pytest.raises(ValueError, match="brief_facts"):
        DecoderTrainConfig(brief_facts=0)
