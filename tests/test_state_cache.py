import pytest
import torch
from test_chatpose import tiny_llama

from posekit.datasets.records import POSE_IN_TOKEN, POSE_TOKEN, Record
from posekit.encoders.state_cache import request_messages, request_states


def _record(text: str, answer: str = f"Sure: {POSE_TOKEN}.", pose_in: bool = False) -> Record:
    return Record(id=text[:8], task="text2pose", split="train",
                  messages=[{"role": "system", "content": "long system prompt"},
                            {"role": "user", "content": (f"{POSE_IN_TOKEN} " if pose_in else "") + text},
                            {"role": "assistant", "content": answer}],
                  target_poses=[[[0.0] * 3] * 24], input_poses=[[[0.1] * 3] * 24] if pose_in else [])


@pytest.fixture(scope="module")
def llm():
    return tiny_llama(seed=1)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    return tmp_path / "states"


RECORDS = [_record("Raise both arms above the head."), _record("Sit down."),
           _record("Bend the left knee at a right angle and lean forward a little.", pose_in=True)]


def test_request_is_the_turns_before_the_first_pose():
    record = Record(id="x", task="chat", split="train", messages=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Now pose"}, {"role": "assistant", "content": f"Here: {POSE_TOKEN}"}],
        target_poses=[[[0.0] * 3] * 24])
    messages = request_messages(record)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "Now pose"
    # A prompt (the user spoke last) is read whole; placeholders become words.
    prompt = Record(id="p", task="chat", split="train", input_poses=[[[0.0] * 3] * 24], messages=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": f"{POSE_IN_TOKEN} Raise its arm"}])
    messages = request_messages(prompt)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert POSE_IN_TOKEN not in messages[-1]["content"] and "Raise its arm" in messages[-1]["content"]
    # A chat that asks for a second pose reads its whole history, the first answer's pose as words.
    chat = Record(id="c", task="chat", split="train", messages=[
        {"role": "user", "content": "Sit"}, {"role": "assistant", "content": f"Here: {POSE_TOKEN}"},
        {"role": "user", "content": "Now stand"}], target_poses=[[[0.0] * 3] * 24])
    messages = request_messages(chat)
    assert [m["content"] for m in messages[1:]] == ["Sit", "Here: (a pose)", "Now stand"]


def test_states_equal_a_fresh_full_forward_pass(llm, cache):
    model, tokenizer = llm
    states = request_states(RECORDS, layer=1, model=llm, progress=False)
    assert len(states) == 3 and states.flat.dtype == torch.float16
    for i, record in enumerate(RECORDS):  # each request alone through the whole untruncated model
        text = tokenizer.apply_chat_template(request_messages(record), tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            full = model.model(input_ids=ids, output_hidden_states=True).hidden_states[1][0]
        assert states[i].shape == full.shape
        assert torch.allclose(states[i].float(), full, atol=2e-3)
    # Requests differ, so do their states.
    assert not torch.allclose(states[0][-4:].float(), states[1][-4:].float())


def test_cache_is_reused_bit_for_bit_and_invalidated_by_a_change(llm, cache):
    first = request_states(RECORDS, layer=1, model=llm, progress=False)
    files = list(cache.glob("*.safetensors"))
    assert len(files) == 1
    again = request_states(RECORDS, layer=1, model=llm, progress=False)
    assert torch.equal(first.flat, again.flat) and torch.equal(first.offsets, again.offsets)
    changed = [_record("Raise both arms above the head!"), *RECORDS[1:]]
    request_states(changed, layer=1, model=llm, progress=False)
    request_states(RECORDS, layer=2, model=llm, progress=False)
    assert len(list(cache.glob("*.safetensors"))) == 3  # a changed request or layer is a new key


def test_a_corrupt_cache_file_is_rebuilt(llm, cache):
    first = request_states(RECORDS, layer=1, model=llm, progress=False)
    (path,) = cache.glob("*.safetensors")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a torn write
    with pytest.warns(UserWarning, match="rebuilding"):
        again = request_states(RECORDS, layer=1, model=llm, progress=False)
    assert torch.equal(first.flat, again.flat)
    assert request_states(RECORDS, layer=1, model=llm, progress=False).flat.shape == first.flat.shape


def test_bad_layer_is_refused(llm, cache):
    with pytest.raises(ValueError, match="layer must be in 0..2"):
        request_states(RECORDS, layer=5, model=llm, progress=False)


def test_padded_batches_mask_the_padding(llm, cache):
    states = request_states(RECORDS, layer=0, model=llm, progress=False)
    padded, mask = states.padded([0, 2])
    assert padded.shape[0] == 2 and mask.sum(1).tolist() == states.lengths[[0, 2]].tolist()
    assert (padded[~mask] == 0).all()


@pytest.mark.parametrize("damage", ["zeros", "nan"])
def test_a_cache_with_bad_values_is_rebuilt(llm, cache, damage):
    from safetensors.torch import load_file, save_file

    first = request_states(RECORDS, layer=1, model=llm, progress=False)
    (path,) = cache.glob("*.safetensors")
    data = load_file(path)
    data["flat"] = torch.zeros_like(data["flat"]) if damage == "zeros" else data["flat"].clone().fill_(float("nan"))
    save_file(data, str(path))  # the same size: a size check alone would trust it
    with pytest.warns(UserWarning, match="bad values in flat.*rebuilding"):
        again = request_states(RECORDS, layer=1, model=llm, progress=False)
    assert torch.equal(first.flat, again.flat)
