import dataclasses
import json
import math

import pytest
import torch
from posefixtures import random_states

from posekit.body.rotations import rot6d_to_rotvec, rotvec_to_rot6d
from posekit.datasets.records import POSE_TOKEN, Record
from posekit.encoders.state_cache import RequestStates
from posekit.models.chatpose import decoder_recipe, load_decoder, stage_record
from posekit.models.decoder import (
    DecoderTrainConfig,
    PoseDecoder,
    PoseDecoderConfig,
    StatePoseModel,
    held_out_halves,
    parse_task_repeats,
    train_pose_decoder,
)

CONFIG = PoseDecoderConfig(state_dim=16, width=32, layers=1, heads=4, dropout=0.0)


def _states(n: int, seed: int = 0) -> RequestStates:
    return random_states(n, CONFIG.state_dim, seed)


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
    from posekit.models.baselines import MeanPose
    from posekit.models.losses import pose_loss

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
    assert decoder_recipe(path) == {"tasks": ["text2pose"], "dataset": None, "train": None, "history": None,
                                   "init": None}


def test_a_later_stage_records_every_stage_before_it(tmp_path):
    model = StatePoseModel(PoseDecoder(CONFIG, torch.zeros(24, 3)), 1, "tiny")
    first = model.save(tmp_path / "first.pt", {"tasks": ["text2pose", "edit"], "dataset": "g", "train": {"edit_draws": 4},
                                                  "init": None})
    second = model.save(tmp_path / "second.pt", {"tasks": ["rpe"], "init": stage_record(first)})
    third = stage_record(second)
    assert third["file"] == str(second) and third["tasks"] == ["rpe"]
    assert third["init"]["file"] == str(first) and third["init"]["train"] == {"edit_draws": 4}
    assert third["init"]["dataset"] == "g" and third["dataset"] is None
    assert third["init"]["tasks"] == ["text2pose", "edit"] and third["init"]["init"] is None


def test_config_is_checked():
    with pytest.raises(ValueError, match="divisible"):
        dataclasses.replace(CONFIG, width=30)


def test_joint_loss_is_zero_on_the_target_and_grows_with_the_error(body):
    from posekit.models.losses import joint_loss

    target = torch.randn(4, 24, 3) * 0.3
    six_d = rotvec_to_rot6d(target).requires_grad_(True)
    assert joint_loss(body, six_d, target).item() < 1e-6
    moved = target.clone()
    moved[:, 16] += 0.5  # the left shoulder turns: the whole left arm moves
    far = joint_loss(body, rotvec_to_rot6d(moved), target)
    assert far.item() > 0.005
    joint_loss(body, six_d + 0.1, target).backward()
    assert six_d.grad.abs().sum() > 0  # differentiable through forward kinematics


def test_a_crafted_resume_file_runs_no_code(tmp_path):
    from posefixtures import crafted_torch_file

    records, states = _records(32, 0)
    ckpt = crafted_torch_file(tmp_path / "decoder.training.pt", tmp_path / "ran")
    with pytest.raises(ValueError, match="Python objects"):
        train_pose_decoder(records, states, records, states, CONFIG, DecoderTrainConfig(epochs=1), progress=False,
                           checkpoint=ckpt)
    assert not (tmp_path / "ran").exists()


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


def _two_task_records(n: int) -> tuple[list[Record], RequestStates]:
    """n text2pose records that ask for one pose and n spg records that ask for another, all with
    the same states: the decoder cannot tell them apart, so the mix decides its answer."""
    one = _states(1)
    states = RequestStates(torch.cat([one.flat] * 2 * n), torch.arange(2 * n + 1) * len(one.flat), 1, "tiny")
    poses = {"text2pose": torch.zeros(24, 3), "spg": torch.full((24, 3), 0.4)}
    records = [Record(id=f"{task}{i}", task=task, split="train",
                      messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": POSE_TOKEN}],
                      target_poses=[poses[task].tolist()]) for task in poses for i in range(n)]
    return records, states


def test_task_repeats_give_a_task_more_weight_in_the_mix():
    records, states = _two_task_records(32)
    spg_pose = torch.full((24, 3), 0.4)

    def distance_to_spg(repeats: dict) -> float:
        train = DecoderTrainConfig(epochs=12, batch_size=16, lr=3e-3, patience=12, task_repeats=repeats)
        decoder, _ = train_pose_decoder(records, states, records, states, CONFIG, train, progress=False)
        with torch.no_grad():
            answer = rot6d_to_rotvec(decoder(states.padded([0])[0], states.padded([0])[1]))[0]
        return float((answer - spg_pose).abs().mean())

    assert distance_to_spg({"spg": 4}) < 0.5 * distance_to_spg({})
    with pytest.raises(ValueError, match="rpe, which no training record has"):
        train_pose_decoder(records, states, records, states, CONFIG, DecoderTrainConfig(epochs=1, task_repeats={"rpe": 2}),
                           progress=False)


def test_task_repeats_are_parsed_and_checked():
    assert parse_task_repeats("spg=2, rpe=3") == {"spg": 2, "rpe": 3}
    assert parse_task_repeats("") == {}
    for bad in ("spg", "spg=0", "spg=1.5", "=2"):
        with pytest.raises(ValueError, match="task=N"):
            parse_task_repeats(bad)
    with pytest.raises(ValueError, match="task_repeats"):
        DecoderTrainConfig(task_repeats={"spg": 0})


def _image_records(n: int, seed: int, keypoints: bool = True) -> tuple[list[Record], RequestStates, torch.Tensor]:
    """Image requests whose target and 2D joints follow their image tokens ``(n, 4, 16)``."""
    records, states = _records(n, seed)
    gen = torch.Generator().manual_seed(seed + 50)
    images = torch.randn(n, 4, 16, generator=gen)
    out = []
    for r, image in zip(records, images):
        points = 112 + 100 * torch.tanh(image[:, :12].reshape(-1)[:48].reshape(24, 2))
        meta = {"joints_2d": points.tolist()} if keypoints else {}
        messages = [{"role": "user", "content": "<image>\nx"}, r.messages[1]]
        out.append(dataclasses.replace(r, task="image2pose", image="images/x.png", meta=meta, messages=messages))
    return out, states, images


def test_target_keypoints_are_the_asked_for_persons():
    from posekit.models.decoder import target_keypoints

    one = [[float(i), float(-i)] for i in range(24)]
    other = [[float(2 * i), 1.0] for i in range(24)]
    base = Record(id="a", task="rpe", split="train",
                  messages=[{"role": "user", "content": "<image>\nx"}, {"role": "assistant", "content": POSE_TOKEN}],
                  target_poses=[[[0.0] * 3] * 24], image="x.png",
                  meta={"target_index": 1, "people": [{"joints_2d": one}, {"joints_2d": other}]})
    assert torch.equal(target_keypoints(base), torch.tensor(other))
    assert torch.equal(target_keypoints(dataclasses.replace(base, meta={"joints_2d": one})), torch.tensor(one))
    assert target_keypoints(dataclasses.replace(base, meta={})) is None


def test_the_grounding_loss_trains_the_decoder_and_resumes_exactly(tmp_path):
    config = dataclasses.replace(CONFIG, image_dim=16, image_tokens=4, grounding=True)
    train_records, train_states, train_images = _image_records(64, 0)
    val_records, val_states, val_images = _image_records(32, 1)
    args = (train_records, train_states, val_records, val_states, config)
    kw = dict(progress=False, train_images=train_images, val_images=val_images)
    plain, plain_history = train_pose_decoder(*args, DecoderTrainConfig(epochs=3, batch_size=16, patience=10), **kw)
    settings = DecoderTrainConfig(epochs=3, batch_size=16, patience=10, grounding_weight=1.0)
    grounded, history = train_pose_decoder(*args, settings, **kw)
    assert not torch.allclose(grounded.ground_query.weight, plain.ground_query.weight)  # the loss reaches the map
    assert history[0]["train_loss"] > plain_history[0]["train_loss"] + 0.5  # part of the training loss (~log 4) ...
    assert abs(history[0]["val_loss"] - plain_history[0]["val_loss"]) < 0.5  # ... and not of the validation loss
    # Records without 2D joints (NaN targets) add nothing, and no NaN.
    unknown, _, _ = _image_records(64, 0, keypoints=False)
    _, blind = train_pose_decoder(unknown, train_states, val_records, val_states, config, settings, **kw)
    assert [h["train_loss"] for h in blind] == [h["train_loss"] for h in plain_history]
    ckpt = tmp_path / "run.pt"

    def stop_after_one(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_pose_decoder(*args, settings, checkpoint=ckpt, log=stop_after_one, **kw)
    resumed, resumed_history = train_pose_decoder(*args, settings, checkpoint=ckpt, **kw)
    assert [h["train_loss"] for h in resumed_history] == [h["train_loss"] for h in history]
    for a, b in zip(resumed.state_dict().values(), grounded.state_dict().values()):
        assert torch.equal(a, b)


def test_train_config_checks_the_grounding_weight_and_instruction_draws():
    with pytest.raises(ValueError, match="grounding_weight"):
        DecoderTrainConfig(grounding_weight=-0.5)
    with pytest.raises(ValueError, match="instruction_draws"):
        DecoderTrainConfig(instruction_draws=-1)


def test_grounding_target_is_where_the_joints_are():
    from posekit.models.decoder import grounding_target

    points = torch.zeros(2, 24, 2)
    points[0] = 10.0  # every joint in the top-left cell
    points[1, :12] = torch.tensor([5.0, 200.0])  # half in the bottom-left cell (row 6, column 0) ...
    points[1, 12:] = torch.tensor([223.0, 100.0])  # ... half at the right edge (row 3, column 6)
    target = grounding_target(points, 224, 49)
    assert target.shape == (2, 49) and torch.allclose(target.sum(1), torch.ones(2))
    assert target[0, 0] == pytest.approx(1.0)
    assert target[1, 6 * 7 + 0] == pytest.approx(0.5) and target[1, 3 * 7 + 6] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="square"):
        grounding_target(points, 224, 48)


def test_grounding_reads_the_request_and_learns_where_the_person_is():
    from posekit.models.decoder import grounding_target

    config = dataclasses.replace(CONFIG, image_dim=16, image_tokens=4, grounding=True)
    torch.manual_seed(0)
    decoder = PoseDecoder(config).eval()
    states, mask = _states(2).padded([0, 1])
    image = torch.randn(1, 4, 16).expand(2, -1, -1)
    _, _, ground = decoder.memory(states, mask, image=image, return_grounding=True)
    assert ground.shape == (2, 4) and torch.allclose(ground.exp().sum(1), torch.ones(2))
    assert not torch.allclose(ground[0], ground[1], atol=1e-4)  # two requests, one image: two maps
    assert decoder.memory(states, mask, return_grounding=True)[2] is None  # no image, no map
    # A person in a cell that the request names (its states' first value's sign) and the image does not:
    records, train_states, images = _image_records(128, 0)
    sign = torch.stack([train_states[i].float()[:, 0].mean() > 0 for i in range(128)])
    points = torch.where(sign[:, None, None], torch.tensor([50.0, 50.0]), torch.tensor([170.0, 170.0])).expand(-1, 24, -1)
    records = [dataclasses.replace(r, meta={"joints_2d": p.tolist()}) for r, p in zip(records, points)]
    settings = DecoderTrainConfig(epochs=20, batch_size=16, lr=3e-3, patience=20, grounding_weight=1.0)
    trained, _ = train_pose_decoder(records, train_states, records[:32], train_states, config, settings,
                                    progress=False, train_images=images, val_images=images[:32])
    text, text_mask = train_states.padded(range(128))
    _, _, learned = trained.memory(text, text_mask, image=images, return_grounding=True)
    goal = grounding_target(points, 224, 4)
    assert -(goal * learned).sum(1).mean() < 0.5 * math.log(4)  # well below the uniform map's cross-entropy
    with pytest.raises(ValueError, match="grounding=True"):
        train_pose_decoder(records, train_states, records[:32], train_states, CONFIG, settings, progress=False,
                           train_images=images, val_images=images[:32])


@pytest.fixture(scope="module")
def image_stage():
    """A decoder trained on image requests (the first stage), its data, and text requests' states."""
    config = dataclasses.replace(CONFIG, image_dim=16, image_tokens=4)
    image_records, image_states, images = _image_records(64, 0)
    _, text_states = _records(32, 5)
    first, _ = train_pose_decoder(image_records, image_states, image_records[:16], image_states, config,
                                  DecoderTrainConfig(epochs=2, batch_size=16, patience=10), progress=False,
                                  train_images=images, val_images=images[:16])
    return config, image_records, image_states, images, text_states, first


def test_a_second_stage_on_the_image_path_leaves_text_answers_bit_for_bit(image_stage):
    config, image_records, image_states, images, text_states, first = image_stage
    second_stage = DecoderTrainConfig(epochs=2, batch_size=16, patience=10, trainable="image", lr=3e-3)
    second, _ = train_pose_decoder(image_records, image_states, image_records[:16], image_states, config, second_stage,
                                   progress=False, train_images=images, val_images=images[:16], init=first)
    text, mask = text_states.padded(range(32))
    assert torch.equal(second(text, mask), first(text, mask))  # text requests never reach the image path
    image_text, image_mask = image_states.padded(range(8))
    assert not torch.allclose(second(image_text, image_mask, image=images[:8]),
                              first(image_text, image_mask, image=images[:8]), atol=1e-4)
    assert all(p.requires_grad for p in second.parameters())  # trainable again afterwards
    whole, _ = train_pose_decoder(image_records, image_states, image_records[:16], image_states, config,
                                  dataclasses.replace(second_stage, trainable="all"), progress=False,
                                  train_images=images, val_images=images[:16], init=first)
    assert not torch.equal(whole(text, mask), first(text, mask))  # the check above can fail
    with pytest.raises(ValueError, match="init="):
        train_pose_decoder(image_records, image_states, image_records[:16], image_states, config, second_stage,
                           progress=False, train_images=images, val_images=images[:16])
    with pytest.raises(ValueError, match="same architecture"):
        train_pose_decoder(image_records, image_states, image_records[:16], image_states,
                           dataclasses.replace(config, width=64), second_stage, progress=False, train_images=images,
                           val_images=images[:16], init=first)
    with pytest.raises(ValueError, match="trainable"):
        DecoderTrainConfig(trainable="text")


def _assert_grows_as_identity(trained: PoseDecoder, grown_config: PoseDecoderConfig, states: torch.Tensor,
                              mask: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """A decoder of ``grown_config`` with ``trained``'s weights answers exactly as ``trained``
    (its added layers' residual branches start at zero); returns those answers."""
    grown = PoseDecoder(grown_config).eval()
    grown.load_state_dict(trained.state_dict(), strict=False)
    before = trained(states, mask, image=images)
    assert torch.equal(grown(states, mask, image=images), before)
    return before


def test_image_layers_added_to_a_trained_decoder_start_as_the_identity_and_train_the_image_path_only(image_stage):
    config, image_records, image_states, images, text_states, first = image_stage
    grown_config = dataclasses.replace(config, image_layers=1)
    image_text, image_mask = image_states.padded(range(8))
    before = _assert_grows_as_identity(first, grown_config, image_text, image_mask, images[:8])
    stage = DecoderTrainConfig(epochs=2, batch_size=16, patience=10, trainable="image", lr=3e-3)
    second, _ = train_pose_decoder(image_records, image_states, image_records[:16], image_states, grown_config, stage,
                                   progress=False, train_images=images, val_images=images[:16], init=first)
    assert second.config.image_layers == 1
    assert any(p.abs().sum() > 0 for n, p in second.named_parameters() if n.endswith("linear2.weight")
               and n.startswith("image_encoder"))  # the new layers trained
    text, mask = text_states.padded(range(32))
    assert torch.equal(second(text, mask), first(text, mask))
    assert not torch.allclose(second(image_text, image_mask, image=images[:8]), before, atol=1e-4)
    with pytest.raises(ValueError, match="image_layers"):  # a decoder with image layers cannot lose them
        train_pose_decoder(image_records, image_states, image_records[:16], image_states, config, stage,
                           progress=False, train_images=images, val_images=images[:16], init=second)
    with pytest.raises(ValueError, match="image_layers must be >= 0"):
        dataclasses.replace(config, image_layers=-1)


def test_image_text_layers_let_the_image_path_read_the_request_and_grow_on_a_decoder_with_image_layers(image_stage):
    config, image_records, image_states, images, text_states, first = image_stage
    stage = DecoderTrainConfig(epochs=2, batch_size=16, patience=10, trainable="image", lr=3e-3)
    with_layers = dataclasses.replace(config, image_layers=1)
    second, _ = train_pose_decoder(image_records, image_states, image_records[:16], image_states, with_layers, stage,
                                   progress=False, train_images=images, val_images=images[:16], init=first)
    fused = dataclasses.replace(with_layers, image_text_layers=1)
    image_text, image_mask = image_states.padded(range(8))
    _assert_grows_as_identity(second, fused, image_text, image_mask, images[:8])
    third, _ = train_pose_decoder(image_records, image_states, image_records[:16], image_states, fused, stage,
                                  progress=False, train_images=images, val_images=images[:16], init=second)
    assert third.image_text.layers[0].multihead_attn.out_proj.weight.abs().sum() > 0  # the new layers trained
    text, mask = text_states.padded(range(32))
    assert torch.equal(third(text, mask), second(text, mask))  # text requests never reach the image path

    def image_memory(model: PoseDecoder, states: torch.Tensor) -> torch.Tensor:
        memory, _ = model.memory(states, image_mask, image=images[:8])
        return memory[:, -4:]  # the four image tokens

    other = image_text + torch.randn_like(image_text)  # another request about the same images
    assert not torch.allclose(image_memory(third, image_text), image_memory(third, other), atol=1e-5)
    assert torch.equal(image_memory(second, image_text), image_memory(second, other))  # the check above can fail
    with pytest.raises(ValueError, match="image_text_layers"):  # cannot lose them again
        train_pose_decoder(image_records, image_states, image_records[:16], image_states, with_layers, stage,
                           progress=False, train_images=images, val_images=images[:16], init=third)
    with pytest.raises(ValueError, match="image_text_layers must be >= 0"):
        dataclasses.replace(config, image_text_layers=-1)


def test_the_decoder_head_of_a_chatpose_checkpoint_loads_as_a_decoder(tmp_path):
    from safetensors.torch import save_file

    from posekit.models.chatpose.checkpoint import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE

    # a ChatPose head keeps the decoder's default heads and dropout
    config = dataclasses.replace(CONFIG, image_dim=16, image_tokens=4, image_layers=1, dropout=0.1)
    torch.manual_seed(0)
    decoder = PoseDecoder(config).eval()
    torch.nn.init.normal_(decoder.out.weight, std=0.1)
    folder = tmp_path / "chatpose"
    folder.mkdir()
    save_file({f"pose_head.{k}": v.contiguous() for k, v in decoder.state_dict().items()}
              | {"pose_encoder.net.0.bias": torch.zeros(3)}, str(folder / WEIGHTS_FILE))
    settings = {"backbone": "tiny", "vision_encoder": "efficientnet-lite0", "pose_head": "decoder", "head_layer": 3,
                "decoder_width": 32, "decoder_layers": 1, "decoder_grounding": False, "decoder_image_layers": 1,
                "decoder_image_text_layers": 0}
    (folder / CONFIG_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION, "config": settings}))
    loaded = load_decoder(folder)
    with pytest.raises(ValueError, match="load_decoder"):  # a decoder file's reader names the folder's
        StatePoseModel.load(folder)
    assert decoder_recipe(folder) == {"tasks": None, "dataset": None, "train": None, "history": None, "init": None}
    assert (loaded.layer, loaded.backbone) == (3, "tiny") and loaded.decoder.config == config
    states, mask = _states(2).padded([0, 1])
    image = torch.randn(2, 4, 16)
    assert torch.equal(loaded.decoder(states, mask, image=image), decoder(states, mask, image=image))
    (folder / CONFIG_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION,
                                                  "config": {**settings, "pose_head": "mlp"},
                                                  "decoder_training": {"tasks": ["rpe"], "history": [{"epoch": 1}]}}))
    assert decoder_recipe(folder)["tasks"] == ["rpe"] and decoder_recipe(folder)["history"] == [{"epoch": 1}]
    with pytest.raises(ValueError, match="not a decoder"):
        load_decoder(folder)


def test_held_out_halves_split_the_records_at_random_and_keep_their_order():
    records, _ = _records(9, 0)
    fit, pick = held_out_halves(records, seed=1)
    assert len(fit) == 4 and len(pick) == 5 and {r.id for r in fit} | {r.id for r in pick} == {r.id for r in records}
    assert [r.id for r in fit] == sorted((r.id for r in fit), key=lambda i: int(i[1:]))  # the records' order
    assert held_out_halves(records, seed=1) == (fit, pick)
    assert held_out_halves(records, seed=2) != (fit, pick)


def test_a_confidence_gate_starts_as_the_identity_and_learns_to_doubt_requests_it_cannot_read():
    train_records, train_states = _records(256, 0)
    first, _ = train_pose_decoder(train_records, train_states, train_records[:32], train_states, CONFIG,
                                  DecoderTrainConfig(epochs=12, batch_size=32, lr=3e-3, patience=12), progress=False)
    gated = dataclasses.replace(CONFIG, confidence="joint")
    states, mask = train_states.padded(range(16))
    _assert_grows_as_identity(first, gated, states, mask, None)
    stage = DecoderTrainConfig(epochs=15, batch_size=32, lr=1e-2, patience=15, trainable="confidence")

    def shifted(records: list[Record]) -> list[Record]:
        """The same requests, each with another request's pose: nothing in a request tells its pose."""
        return [dataclasses.replace(r, target_poses=o.target_poses) for r, o in zip(records, records[1:] + records[:1])]

    def fit_gate(fit: tuple[list[Record], RequestStates], pick: tuple[list[Record], RequestStates]):
        gate, _ = train_pose_decoder(*fit, *pick, gated, stage, progress=False, init=first)
        padded, held_mask = pick[1].padded(range(len(pick[0])))
        with torch.no_grad():
            return gate, float(gate.confidence(gate.joint_features(padded, held_mask)).mean())

    fit, pick = _records(64, 2), _records(64, 3)  # held out, with the mapping the decoder learnt
    trusting, trust = fit_gate(fit, pick)
    doubting, doubt = fit_gate((shifted(fit[0]), fit[1]), (shifted(pick[0]), pick[1]))
    assert doubt < 0.7 < trust, (doubt, trust)
    frozen = {k: v for k, v in first.state_dict().items()}
    for name, value in doubting.state_dict().items():  # only the gate trained
        assert name.startswith("confidence_") or torch.equal(value, frozen[name]), name
    # its answers lie nearer the mean pose than the decoder's own
    away = lambda model: (model(states, mask) - first.mean_6d).abs().mean()  # noqa: E731
    assert away(doubting) < 0.8 * away(first)
    # one factor per answer: the same gate read as "pose" scales all 24 joints alike
    whole = PoseDecoder(dataclasses.replace(CONFIG, confidence="pose")).eval()
    whole.load_state_dict(doubting.state_dict())
    with torch.no_grad():
        per_joint, per_pose = (m.confidence(m.joint_features(states, mask)) for m in (doubting, whole))
    assert torch.allclose(per_pose, per_pose[:, :1].expand_as(per_pose)) and per_joint.std(1).mean() > 1e-3
    with pytest.raises(ValueError, match="confidence must be one of"):
        dataclasses.replace(CONFIG, confidence="yes")
    with pytest.raises(ValueError, match="confidence gate"):
        train_pose_decoder(*fit, *pick, CONFIG, stage, progress=False, init=first)


def test_a_diverged_run_stops_with_a_message_and_saves_nothing(tmp_path):
    records, states = _records(32, 0)
    states.flat[:] = float("nan")  # a cache gone bad
    ckpt = tmp_path / "run.pt"
    with pytest.raises(ValueError, match="diverged at epoch 1.*nothing was saved"):
        train_pose_decoder(records, states, records, states, CONFIG, DecoderTrainConfig(epochs=2), progress=False,
                           checkpoint=ckpt)
    assert not ckpt.exists()


def test_a_decoder_file_with_bad_weights_is_refused_and_foreign_files_are_not_overwritten(tmp_path):
    from posekit.files import NotOwnedError
    from posekit.models.decoder import check_decoder_out

    decoder = PoseDecoder(CONFIG, torch.zeros(24, 3))
    with torch.no_grad():
        next(decoder.parameters()).fill_(float("nan"))
    path = StatePoseModel(decoder, 1, "tiny").save(tmp_path / "d.pt")
    with pytest.raises(ValueError, match="holds bad weights .*NaN.*train it again"):
        StatePoseModel.load(path)
    check_decoder_out(path)  # posekit's own decoder file: may be replaced
    check_decoder_out(tmp_path / "new.pt")
    (tmp_path / "notes.pt").write_text("my notes")
    with pytest.raises(NotOwnedError, match="notes.pt exists and is not a posekit decoder file.*--force"):
        check_decoder_out(tmp_path / "notes.pt")
    check_decoder_out(tmp_path / "notes.pt", force=True)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_decoder_out(tmp_path)
