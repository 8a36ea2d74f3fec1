"""ChatPose model: tokenising, the <POSE> path, generation, save/load, the shipped checkpoint.

Most tests use a tiny randomly initialised Llama of the same classes as the default backbone
(2 layers, hidden 64) with SmolLM2's tokenizer, so they run in seconds on a CPU."""
import dataclasses
import json

import pytest
import torch

from posekit.body.rotations import rotmat_to_rotvec
from posekit.datasets import load_records
from posekit.datasets.records import IMAGE_TOKEN, POSE_IN_TOKEN, POSE_TOKEN, Record
from posekit.models.chatpose import (
    Answer,
    ChatPose,
    ChatPoseConfig,
    CheckpointError,
    HalfWeightLinear,
    default_checkpoint_dir,
    load_chatpose,
)
from posekit.models.decoder import PoseDecoderConfig


def tiny_llama(seed: int = 0, hidden: int = 64):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from posekit.encoders.llm import smollm2_dir

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir(progress=False))
    torch.manual_seed(seed)  # after the tokenizer: a first conversion of the backbone draws random numbers too
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         max_position_embeddings=1024)
    return LlamaForCausalLM(config), tokenizer


def tiny_chatpose(seed: int = 0, vision=False, **config) -> ChatPose:
    config = ChatPoseConfig(vision_encoder="efficientnet-lite0" if vision else None, lora_dropout=0.0, **config)
    return ChatPose(config, backbone=tiny_llama(seed))


def _request(text: str, poses: int = 1, pose_in: int = 0) -> Record:
    answer = " and ".join([POSE_TOKEN] * poses) if poses else "It is a pose."
    user = " ".join([POSE_IN_TOKEN] * pose_in) + " " + text
    return Record(id="r", task="text2pose" if poses else "pose2text", split="test",
                  messages=[{"role": "user", "content": user.strip()}, {"role": "assistant", "content": answer}],
                  target_poses=[(torch.randn(24, 3) * 0.3).tolist() for _ in range(poses)],
                  input_poses=[(torch.randn(24, 3) * 0.3).tolist() for _ in range(pose_in)])


@pytest.fixture(scope="module")
def model():
    return tiny_chatpose()


def test_collate_marks_answers_and_placeholders(model):
    records = [_request("Raise both arms.", poses=2), _request("Describe this pose in detail, limb by limb.", poses=0, pose_in=1)]
    batch = model.collate(records)
    assert batch.pose_positions.tolist()[0][0] == 0 and len(batch.pose_positions) == 2
    assert torch.equal(batch.target_poses, torch.tensor(records[0].target_poses))
    assert batch.pose_in_positions[:, 0].tolist() == [1] and batch.input_poses.shape == (1, 24, 3)
    tok = model.tokenizer
    answer = tok.decode(batch.labels[1][batch.labels[1] != -100])
    assert answer.startswith("It is a pose.") and "Describe" not in answer
    prompt = tok.decode(batch.input_ids[0][batch.attention_mask[0] == 1])
    assert model.config.system_prompt in prompt and "Raise both arms." in prompt
    # right padding for training, left padding for generation
    assert batch.attention_mask[:, 0].all() and not batch.attention_mask[:, -1].all()
    gen = model.collate([model.prompt_record(r) for r in records], generation=True)
    assert gen.attention_mask[:, -1].all() and (gen.labels == -100).all()


def test_image_expands_to_encoder_tokens(tiny_dataset):
    root = tiny_dataset[0]
    model = tiny_chatpose(vision=True)
    record = load_records("image2pose", "train", root=root)[0]
    batch = model.collate([record], root)
    assert batch.images.shape == (1, 3, 224, 224) and len(batch.image_positions) == model.vision.tokens == 49
    assert (model.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == batch.input_ids).sum() == 49
    out = model(batch)
    out["loss"].backward()
    assert model.image_projector[0].weight.grad.abs().sum() > 0  # the image reaches the loss
    assert all(p.grad is None for p in model.vision.parameters())  # the encoder stays frozen


def test_pose_hidden_state_reaches_head_and_llm():
    model = tiny_chatpose(ce_weight=0.0)  # only the pose loss: every gradient below comes through <POSE>
    batch = model.collate([_request("Sit down.")])
    model(batch)["loss"].backward()
    assert model.pose_head.net[0].weight.grad.abs().sum() > 0
    lora_b = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(g is not None and g.abs().sum() > 0 for g in lora_b)
    assert model.token_embed.grad[0].abs().sum() > 0  # the <POSE> row itself
    # the pose depends on the hidden state at <POSE>: a different request gives a different pose
    with torch.no_grad():
        a = model(model.collate([_request("Sit down.")]))["rotmats"]
        b = model(model.collate([_request("Jump high in the air with both arms up.")]))["rotmats"]
    assert not torch.allclose(a, b)


def test_training_steps_decrease_loss():
    model = tiny_chatpose(joint_weight=1.0)
    records = [_request("Kneel on the left knee."), _request("Wave with the right hand.", poses=2),
               _request("Describe it.", poses=0, pose_in=1)]
    model.init_pose_head(records)
    batch = model.collate(records)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(30):
        out = model(batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append({k: float(out[k].detach()) for k in ("loss", "rotmat", "joint")})
    assert losses[-1]["loss"] < 0.8 * losses[0]["loss"]
    assert losses[-1]["rotmat"] < losses[0]["rotmat"] and losses[-1]["joint"] < losses[0]["joint"]


def test_generation_with_cache_matches_transformers_greedy(model):
    record = model.prompt_record(_request("Stand on one leg."))
    batch = model.collate([record], generation=True)
    reference = model.llm.get_base_model().generate(batch.input_ids, attention_mask=batch.attention_mask,
                                                    max_new_tokens=6, do_sample=False, eos_token_id=None)
    answer = model.generate([record], max_new_tokens=6)[0]
    assert answer.token_ids == reference[0, batch.input_ids.shape[1]:].tolist()


def test_left_padding_does_not_change_answers(model):
    short, long = (model.prompt_record(_request(t)) for t in ("Sit.", "Lie on your back with your knees bent."))
    alone = model.generate([short], max_new_tokens=5)[0]
    batched = model.generate([short, long], max_new_tokens=5)[0]
    assert alone.token_ids == batched.token_ids


class ScriptedChatPose(ChatPose):
    """Writes a fixed token script, to test decoding independently of what a tiny model learned."""

    script: tuple[int, ...] = ()

    def generate(self, *args, **kwargs):
        self._step = -1  # every answer follows the script from its start
        return super().generate(*args, **kwargs)

    def logits(self, hidden):
        step = self._step = getattr(self, "_step", -1) + 1
        out = torch.full((*hidden.shape[:-1], len(self.tokenizer)), -1e4)
        out[..., self.script[min(step, len(self.script) - 1)]] = 0
        return out


def three_pose_model() -> tuple[ScriptedChatPose, list[int]]:
    """A scripted model answering "<POSE> and<POSE> and<POSE>", and the ids of " and"."""
    llm, tok = tiny_llama()
    model = ScriptedChatPose(ChatPoseConfig(vision_encoder=None), backbone=(llm, tok))
    pose, end = model.token_ids[POSE_TOKEN], tok.convert_tokens_to_ids("<|im_end|>")
    and_id = tok(" and", add_special_tokens=False)["input_ids"]
    model.script = (pose, *and_id, pose, *and_id, pose, end)
    return model, and_id


def test_several_pose_tokens_give_several_poses():
    model, _ = three_pose_model()
    answer = model.generate([model.prompt_record(_request("Three yoga poses please."))], max_new_tokens=20)[0]
    assert isinstance(answer, Answer) and answer.text.count(POSE_TOKEN) == 3
    assert answer.poses.shape == (3, 24, 3) and torch.isfinite(answer.poses).all()
    assert not torch.allclose(answer.poses[0], answer.poses[1])  # each from its own hidden state


def test_max_poses_ends_the_answer_at_that_pose():
    model, and_id = three_pose_model()
    prompt = [model.prompt_record(_request("Three yoga poses please."))]
    full = model.generate(prompt, max_new_tokens=20)[0]
    two = model.generate(prompt, max_new_tokens=20, max_poses=2)[0]
    assert two.text == POSE_TOKEN + " and" + POSE_TOKEN and len(two.token_ids) == len(and_id) + 2
    assert torch.equal(two.poses, full.poses[:2])  # the poses written before the stop are unchanged
    with pytest.raises(ValueError, match="max_poses must be at least 1"):
        model.generate(prompt, max_poses=0)


class LoopingChatPose(ScriptedChatPose):
    """Follows its script, with <POSE> as the second choice: what a model looping in a description
    (and knowing a pose should come) looks like."""

    def logits(self, hidden):
        out = super().logits(hidden)
        out[..., self.token_ids[POSE_TOKEN]] = -1.0
        return out


def test_no_repeat_ngram_breaks_a_looping_answer():
    llm, tok = tiny_llama()
    model = LoopingChatPose(ChatPoseConfig(vision_encoder=None), backbone=(llm, tok))
    sentence = tok(" The right foot is above the right knee.", add_special_tokens=False)["input_ids"]
    model.script = tuple(sentence * 6)
    prompt = [model.prompt_record(_request("How would a flamingo stand?"))]
    looping = model.generate(prompt, max_new_tokens=40)[0]
    assert looping.text.count("knee") >= 4 and len(looping.poses) == 0
    guarded = model.generate(prompt, max_new_tokens=40, no_repeat_ngram_size=4, max_poses=1)[0]
    assert guarded.text.count("knee") == 1 and guarded.text.endswith(POSE_TOKEN) and len(guarded.poses) == 1
    ids = guarded.token_ids
    grams = [tuple(ids[i:i + 4]) for i in range(len(ids) - 3)]
    assert len(grams) == len(set(grams))  # no 4-token sequence twice
    with pytest.raises(ValueError, match="no_repeat_ngram_size"):
        model.generate(prompt, no_repeat_ngram_size=-1)


def test_ban_repeats_masks_the_tokens_that_would_repeat_an_ngram():
    from posekit.models.chatpose import ban_repeats

    logits = torch.zeros(3, 10)
    ban_repeats(logits, [[1, 2, 3, 1, 2], [1, 2, 3, 1, 2], [4, 5]], 3, torch.tensor([False, True, False]))
    assert torch.isinf(logits[0]).nonzero().flatten().tolist() == [3]  # "1 2" was followed by 3 before
    assert not torch.isinf(logits[1:]).any()  # finished rows and short answers untouched
    unigram = torch.zeros(1, 10)
    ban_repeats(unigram, [[7, 2, 7]], 1, torch.tensor([False]))
    assert torch.isinf(unigram[0]).nonzero().flatten().tolist() == [2, 7]


def test_predict_falls_back_to_a_forced_pose(model):
    records = [_request("Squat."), _request("Touch your toes.")]
    poses = model.predict(records)
    assert poses.shape == (2, 24, 3) and torch.isfinite(poses).all()
    assert model.missing_poses == 2  # an untrained model writes no <POSE>: counted, then forced


def test_save_load_reproduces_outputs_bit_for_bit(tmp_path):
    llm, tok = tiny_llama(seed=3)
    llm.save_pretrained(tmp_path / "backbone")
    tok.save_pretrained(tmp_path / "backbone")
    model = ChatPose(ChatPoseConfig(backbone=str(tmp_path / "backbone"), vision_encoder=None))
    records = [_request("Arms crossed.", poses=1, pose_in=1)]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):  # move every trained part away from its initial value
        optimizer.zero_grad()
        model(model.collate(records))["loss"].backward()
        optimizer.step()
    model.save(tmp_path / "ckpt")
    loaded = ChatPose.load(tmp_path / "ckpt")
    model.eval()
    loaded.eval()
    with torch.no_grad():
        a, b = model(model.collate(records)), loaded(loaded.collate(records))
    assert torch.equal(a["rotmats"], b["rotmats"]) and torch.equal(a["loss"], b["loss"])
    prompts = [model.prompt_record(r) for r in records]
    assert torch.equal(model.forced_pose(prompts), loaded.forced_pose(prompts))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "posekit-output.json",
                                                                  "trained.safetensors"]


def test_saving_over_a_checkpoint_keeps_the_folders_other_files(tmp_path):
    model = tiny_chatpose()  # its own: the weights change below, and the module's model is shared
    model.save(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "README.md").write_text("how it was made")
    (tmp_path / "ckpt" / "logs").mkdir()
    (tmp_path / "ckpt" / "logs" / "log.csv").write_text("step,loss")
    before = (tmp_path / "ckpt" / "trained.safetensors").read_bytes()
    with torch.no_grad():
        next(p for p in model.parameters() if p.requires_grad).add_(1.0)
    model.save(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "README.md").read_text() == "how it was made"
    assert (tmp_path / "ckpt" / "logs" / "log.csv").read_text() == "step,loss"
    assert (tmp_path / "ckpt" / "trained.safetensors").read_bytes() != before  # the weights were replaced


def test_checkpoint_errors_name_the_problem(tmp_path, model):
    with pytest.raises(CheckpointError, match="not a ChatPose checkpoint"):
        ChatPose.load(tmp_path)
    model.save(tmp_path / "ok")
    wider = ChatPose(ChatPoseConfig(vision_encoder=None, lora_dropout=0.0), backbone=tiny_llama(hidden=96))
    with pytest.raises(CheckpointError, match="hidden_size"):
        wider.load_trained(tmp_path / "ok")
    ranked = ChatPose(dataclasses.replace(model.config, lora_rank=4), backbone=tiny_llama())
    with pytest.raises(CheckpointError, match="shapes"):
        ranked.load_trained(tmp_path / "ok")
    (tmp_path / "ok" / "trained.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt"):
        model.load_trained(tmp_path / "ok")
    with pytest.raises(CheckpointError, match="not found"):
        load_chatpose(tmp_path / "missing")


def test_shipped_checkpoint_answers_a_text2pose_request(body):
    from posekit.body.plausibility import check_plausible

    model = load_chatpose()
    requests = [_request("Their hands are above the head and shoulder-width apart. Both feet are on the ground."),
                _request("The person is sitting on the ground with the legs crossed.")]
    answers = model.generate([model.prompt_record(r) for r in requests], max_new_tokens=32)
    for answer in answers:
        assert POSE_TOKEN in answer.text and len(answer.poses) >= 1, f"no pose in {answer.text!r}"
    poses = torch.stack([a.poses[0] for a in answers])
    assert poses.shape == (2, 24, 3) and torch.isfinite(poses).all() and poses.norm(dim=-1).max() < torch.pi + 1e-4
    joints = body(poses[:, 0], poses[:, 1:], joints_only=True).joints
    report = check_plausible(poses, joints, standing=torch.zeros(2, dtype=torch.bool))
    assert report.limits.all() and report.intersection.all(), "the shipped model's poses must respect the joint limits"
    assert not torch.allclose(poses[0], poses[1], atol=1e-4)  # the request reaches the pose
    prompts = [model.prompt_record(r) for r in requests]
    full = model.forced_pose(prompts)
    half = model.set_dtype("float16")  # the chat's default on a CPU: float16 weights, LoRA merged
    assert (half.forced_pose(prompts) - full).abs().max() < 1e-2
    assert all(POSE_TOKEN in a.text for a in half.generate(prompts, max_new_tokens=32))


@pytest.mark.parametrize("head_layer", [-1, 1])
def test_attending_head_reads_the_request_and_generates_consistently(head_layer):
    model = tiny_chatpose(pose_head="attend", head_layer=head_layer, ce_weight=0.0)
    batch = model.collate([_request("Sit down with the knees bent.")])
    model(batch)["loss"].backward()
    assert model.pose_head.key.weight.grad.abs().sum() > 0  # the pose loss reaches the request's states
    assert model.pose_head.value.weight.grad.abs().sum() > 0
    # the pose written during cached generation equals the teacher-forced pose of the same text
    llm, tok = tiny_llama()
    scripted = ScriptedChatPose(dataclasses.replace(model.config), backbone=(llm, tok))
    pose, end = scripted.token_ids[POSE_TOKEN], tok.convert_tokens_to_ids("<|im_end|>")
    scripted.script = (*tok(" Here", add_special_tokens=False)["input_ids"], pose, end)
    prompts = [scripted.prompt_record(_request(t)) for t in ("Sit.", "Lie on your back with your knees bent.")]
    answers = scripted.generate(prompts, max_new_tokens=5)
    forced = [dataclasses.replace(p, messages=[*p.messages, {"role": "assistant", "content": a.text}],
                                  target_poses=[[[0.0] * 3] * 24]) for p, a in zip(prompts, answers)]
    scripted.eval()
    with torch.no_grad():
        teacher = scripted(scripted.collate(forced))["rotmats"]
    from posekit.body.rotations import rotmat_to_rotvec

    assert [a.text for a in answers] == [" Here<POSE>"] * 2
    assert torch.allclose(torch.cat([a.poses for a in answers]), rotmat_to_rotvec(teacher), atol=1e-4)


def test_a_run_can_start_from_another_heads_checkpoint(tmp_path, model):
    model.save(tmp_path / "mlp")
    attend = tiny_chatpose(pose_head="attend")
    with pytest.raises(CheckpointError, match="does not match"):
        attend.load_trained(tmp_path / "mlp")
    fresh = attend.load_trained(tmp_path / "mlp", strict=False)
    assert fresh and all(name.startswith("pose_head.") for name in fresh)
    assert torch.equal(attend.token_embed, model.token_embed)
    with pytest.raises(ValueError, match="pose_head must be one of"):
        tiny_chatpose(pose_head="transformer")
    with pytest.raises(ValueError, match="head_layer"):
        tiny_chatpose(head_layer=7)



@pytest.mark.parametrize("weights_only", [True, False])
def test_half_precision_inference_follows_float32(model, weights_only):
    requests = [model.prompt_record(_request(t)) for t in ("Squat.", "Raise both arms.", "Kneel on the left knee.")]
    full = model.forced_pose(requests)
    half = tiny_chatpose().set_dtype("float16", weights_only=weights_only)  # same seed: the same weights, cast
    linears = [m for m in half.llm.modules() if isinstance(m, HalfWeightLinear)]
    if weights_only:  # CPU default: every frozen LLM linear (LoRA's base layers and lm_head too) stores float16
        assert len(linears) == 2 * 7 + 1 and all(m.weight.dtype == torch.float16 for m in linears)
        assert half.dtype == torch.float32 and not any(type(m) is torch.nn.Linear and not m.weight.requires_grad
                                                       for m in half.llm.modules())
    else:
        assert not linears and half.dtype == torch.float16 and half.llm.get_base_model().lm_head.weight.dtype == torch.float16
    poses = half.forced_pose(requests)
    assert poses.dtype == torch.float32 and poses.shape == (3, 24, 3)
    assert (poses - full).abs().max() < 2e-2 and not torch.equal(poses, full)  # close, but really cast
    answer = half.generate([_request("Squat.", pose_in=1)], max_new_tokens=4)[0]  # pose input cast too
    assert len(answer.token_ids) == 4


@pytest.mark.parametrize("rows", [1, 4, 5, 12])
def test_half_weight_linear_matches_float32_products(rows):
    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 10)
    half = HalfWeightLinear(linear, torch.float16, gemv_rows=4, chunk=4)  # 10 outputs: 3 chunks for large inputs
    x = torch.randn(rows, 3, 16)[:, 0]  # rows of a strided tensor
    reference = torch.nn.functional.linear(x, linear.weight.half().float(), linear.bias)
    out = half(x)
    assert out.dtype == torch.float32 and out.shape == (rows, 10)
    assert torch.allclose(out, reference, atol=1e-2 if rows <= 4 else 1e-5)  # float16 products, else float32 ones


def test_half_precision_keeps_the_vision_encoder_in_float32(tiny_dataset):
    model = tiny_chatpose(vision=True).set_dtype(torch.bfloat16, weights_only=False)
    assert next(model.vision.parameters()).dtype == torch.float32
    assert model.image_projector[0].weight.dtype == torch.bfloat16
    record = load_records("image2pose", "train", root=tiny_dataset[0])[0]
    assert torch.isfinite(model.forced_pose([model.prompt_record(record)], tiny_dataset[0])).all()


def test_unknown_dtype_is_refused(model):
    with pytest.raises(ValueError, match="unknown dtype 'half'"):
        model.set_dtype("half")
    with pytest.raises(ValueError, match="unsupported dtype"):
        model.set_dtype(torch.float64)


def test_decoder_head_reads_the_request_through_the_frozen_llm(tmp_path):
    from posekit.encoders.state_cache import request_states

    model = tiny_chatpose(pose_head="decoder", head_layer=1, decoder=PoseDecoderConfig(width=32, layers=1))
    torch.nn.init.normal_(model.pose_head.out.weight, std=0.1)  # leave the mean-pose start
    with torch.no_grad():  # make LoRA matter: the head's states must not see it
        for name, p in model.llm.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    records = [model.prompt_record(_request("Raise both arms above your head.")),
               model.prompt_record(_request("Sit down on the floor with crossed legs."))]
    states = model.request_states(records)
    base, tokenizer = tiny_llama(0)  # the same weights, no LoRA, no special tokens
    fresh = request_states(records, 1, model=(base, tokenizer), cache=False, progress=False,
                           system_prompt=model.config.system_prompt)
    assert torch.allclose(states.flat.float(), fresh.flat.float(), atol=2e-3)
    poses = model.decoder_poses(records, None, [1, 2])
    assert [p.shape for p in poses] == [(1, 24, 3, 3), (2, 24, 3, 3)]
    assert not torch.allclose(poses[0][0], poses[1][0], atol=1e-3)  # two requests, two poses
    assert torch.allclose(model.forced_pose(records[:1]), rotmat_to_rotvec(poses[0]), atol=1e-5)
    answers = model.generate(records, max_new_tokens=4)
    assert all(a.poses.shape[1:] == (24, 3) for a in answers)
    # The head's fitted buffers travel with the checkpoint.
    with torch.no_grad():
        model.pose_head.state_mean.fill_(0.25)
    path = model.save(tmp_path / "ckpt")
    again = ChatPose.load(path, backbone=tiny_llama(0))
    assert torch.equal(again.pose_head.state_mean, model.pose_head.state_mean)
    assert torch.allclose(again.decoder_poses(records, None, [1, 1])[1], model.decoder_poses(records, None, [1, 1])[1],
                          atol=1e-5)
    # Half-precision weights for the chat: LoRA stays apart (not merged), so the head still reads
    # the LLM without it, now through float16 weights.
    full = again.decoder_poses(records, None, [1, 1])
    half = again.set_dtype("float16", weights_only=True)
    assert any(isinstance(m, HalfWeightLinear) for m in half.llm.modules())
    assert all((a - b).abs().max() < 2e-2 for a, b in zip(half.decoder_poses(records, None, [1, 1]), full))


def test_decoder_head_needs_a_layer():
    with pytest.raises(ValueError, match="head_layer >= 0"):
        ChatPoseConfig(pose_head="decoder")


def test_the_decoder_config_is_nested_and_checkpoints_saved_before_still_load():
    config = ChatPoseConfig(pose_head="decoder", head_layer=8, decoder=PoseDecoderConfig(width=64, heads=2, dropout=0.0))
    back = ChatPoseConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert back == config and back.decoder.heads == 2  # heads and dropout travel too
    legacy = {"pose_head": "decoder", "head_layer": 8, "decoder_width": 128, "decoder_layers": 3,
              "decoder_grounding": True, "decoder_image_layers": 2, "decoder_image_text_layers": 1,
              "decoder_confidence": "pose"}  # the layout of config.json before the nesting
    old = ChatPoseConfig.from_dict(legacy)
    assert old.decoder == PoseDecoderConfig(width=128, layers=3, grounding=True, image_layers=2,
                                            image_text_layers=1, confidence="pose")
    with pytest.raises(CheckpointError, match="unknown decoder config fields \\['wdith'\\]"):
        ChatPoseConfig.from_dict({"decoder": {"wdith": 3}})
    shipped = json.loads((default_checkpoint_dir() / "config.json").read_text())["config"]
    assert ChatPoseConfig.from_dict(shipped).decoder.confidence == shipped.get("decoder_confidence",
                                                                                shipped.get("decoder", {}).get("confidence"))


def test_config_typos_and_file_paths_get_specific_messages(tmp_path):
    from posekit.models.chatpose import ChatPoseConfig, CheckpointError, default_checkpoint_dir

    with pytest.raises(CheckpointError, match="'lora_rnak' \\(did you mean 'lora_rank'\\?\\)"):
        ChatPoseConfig.from_dict({"lora_rnak": 4})
    with pytest.raises(CheckpointError, match="another posekit version"):
        ChatPoseConfig.from_dict({"zzz_unrelated": 1})
    shipped = default_checkpoint_dir()
    assert default_checkpoint_dir(shipped / "trained.safetensors") == shipped  # a file stands for its folder
    stray = tmp_path / "model.bin"
    stray.write_bytes(b"0")
    with pytest.raises(CheckpointError, match="is a file; pass the ChatPose checkpoint folder"):
        default_checkpoint_dir(stray)


def test_detail_image_features_reach_the_decoder_head_and_not_the_llm(tiny_dataset):
    root = tiny_dataset[0]
    config = ChatPoseConfig(vision_encoder="efficientnet-lite0-detail", pose_head="decoder", head_layer=1, lora_dropout=0.0)
    model = ChatPose(config, backbone=tiny_llama())
    assert model.image_projector[0].in_features == 1280 and model.pose_head.config.image_detail_dim == 4 * 155
    record = load_records("image2pose", "train", root=root)[0]
    model(model.collate([record], root))["loss"].backward()  # the LLM's image tokens: the coarse 1280 values only
    assert model.image_projector[0].weight.grad.abs().sum() > 0
    poses = model.decoder_poses([record], root, [1])
    assert poses[0].shape == (1, 24, 3, 3) and torch.isfinite(poses[0]).all()


def test_a_decoder_with_image_layers_ships_as_the_head_of_a_chatpose_checkpoint(tmp_path):
    from posekit.models.chatpose import attach_to_chatpose, load_decoder
    from posekit.models.decoder import PoseDecoder, StatePoseModel

    source = tiny_chatpose(pose_head="decoder", head_layer=1, decoder=PoseDecoderConfig(width=32, layers=1), vision=True)
    source.save(tmp_path / "source")
    decoder = PoseDecoder(dataclasses.replace(source.pose_head.config, image_layers=1)).eval()
    for name, p in decoder.named_parameters():  # trained image layers: no longer the identity
        if name.startswith("image_encoder"):
            torch.nn.init.normal_(p, std=0.05)
    out = attach_to_chatpose(StatePoseModel(decoder, 1, source.config.backbone, vision="efficientnet-lite0"),
                             tmp_path / "source", tmp_path / "shipped", dtype=None, backbone=tiny_llama(0))
    shipped = ChatPose.load(out, backbone=tiny_llama(0))
    assert shipped.config.decoder.image_layers == 1 and shipped.pose_head.config == decoder.config
    state, own = shipped.pose_head.state_dict(), decoder.state_dict()
    assert all(torch.equal(state[k], own[k]) for k in own)
    language = {k: v for k, v in source.trainable_state().items() if not k.startswith("pose_head.")}
    kept = shipped.trainable_state()
    assert language and all(torch.equal(kept[k], v) for k, v in language.items())  # LoRA, token rows, encoders
    back = load_decoder(out)  # the decoder read back from the folder alone
    assert back.decoder.config == decoder.config and back.layer == 1
    states, mask = torch.randn(2, 5, decoder.config.state_dim), torch.ones(2, 5, dtype=torch.bool)
    image = torch.randn(2, decoder.config.image_tokens, decoder.config.image_dim)
    assert torch.equal(back.decoder(states, mask, image=image), decoder(states, mask, image=image))


def test_a_checkpoint_with_bad_weights_is_refused_and_a_foreign_folder_is_not_adopted(tmp_path, model):
    from safetensors.torch import load_file, save_file

    from posekit.files import NotOwnedError

    model.save(tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "trained.safetensors"
    state = load_file(weights)
    name = sorted(state)[0]
    state[name] = torch.full_like(state[name], float("nan"))
    save_file(state, str(weights))
    with pytest.raises(CheckpointError, match=f"holds bad weights \\({name} \\(NaN"):
        model.load_trained(tmp_path / "ckpt")
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine")
    with pytest.raises(NotOwnedError, match="no posekit-output.json"):
        model.save(mine)
    assert sorted(p.name for p in mine.iterdir()) == ["todo.txt"]
    model.save(mine, force=True)  # told to: the checkpoint is written beside the other files
    assert (mine / "config.json").is_file() and (mine / "todo.txt").read_text() == "mine"
    import json

    meta = json.loads((mine / "config.json").read_text())
    (mine / "config.json").write_text(json.dumps({**meta, "format_version": "1"}))  # a string, not the number
    with pytest.raises(CheckpointError, match=r"format_version must be the number 1, got '1' \(str\)"):
        model.load_trained(mine)


def test_a_training_step_runs_under_bfloat16_autocast():
    # accelerate's mixed_precision="bf16" (posekit train --mixed-precision bf16) runs the forward under autocast: the
    # pose encoder's half-precision output goes into float32 embeddings (this raised "Index put requires the
    # source and destination dtypes match" before)
    model = tiny_chatpose()
    batch = model.collate([_request("Make the arms go up.", poses=1, pose_in=1)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    assert torch.isfinite(out["loss"]) and out["loss"].requires_grad
