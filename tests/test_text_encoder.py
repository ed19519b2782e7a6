"""Text encoders: caching per prompt text, truncation with a warning, errors for empty prompts."""

import pytest
import torch

from runtime.model.text_encoder import HashTextEncoder, build_text_encoder
from sdk.errors import ConfigError, PromptError


def test_hash_encoder_is_deterministic_and_cached():
    enc = HashTextEncoder(dim=384, max_tokens=8)
    a, ma = enc.encode_one("a red square moves left")
    b, _ = HashTextEncoder(dim=384, max_tokens=8).encode_one("a red square moves left")
    torch.testing.assert_close(a, b)
    assert a.shape == (5, 384) and ma.all()
    enc.encode_one("a red square moves left")
    assert (enc.cache_hits, enc.cache_misses) == (1, 1)
    c, _ = enc.encode_one("a red square moves right")
    assert not torch.allclose(a, c)


def test_batch_padding_and_mask():
    enc = HashTextEncoder()
    emb, mask = enc.encode(["left", "a red square moves left"])
    assert emb.shape == (2, 5, 384) and mask.sum(1).tolist() == [1, 5]
    assert emb[0, 1:].abs().sum() == 0


def test_long_prompt_is_truncated_with_a_warning():
    enc = HashTextEncoder(max_tokens=4)
    with pytest.warns(UserWarning, match="truncated to 4 tokens"):
        emb, _ = enc.encode_one("one two three four five six")
    assert emb.shape[0] == 4


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_empty_prompt_is_an_error(bad):
    with pytest.raises(PromptError, match="non-empty"):
        HashTextEncoder().encode_one(bad)


def test_unknown_kind():
    with pytest.raises(ConfigError, match="unknown text encoder kind"):
        build_text_encoder({"kind": "clip"})


def test_minilm_token_embeddings_offline_and_cached(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from runtime.model.text_encoder import MiniLMTextEncoder

    enc = MiniLMTextEncoder(max_tokens=16)
    a, mask = enc.encode_one("the player walks left across the grass")
    assert a.shape[1] == 384 and a.shape[0] == mask.shape[0] >= 9  # [CLS] + words + [SEP]
    assert torch.isfinite(a).all()
    b, _ = enc.encode_one("the player walks left across the grass")
    assert b is a and (enc.cache_hits, enc.cache_misses) == (1, 1)
    c, _ = enc.encode_one("a zombie approaches")
    pooled = lambda e: torch.nn.functional.normalize(e.mean(0), dim=0)  # noqa: E731
    left, right = pooled(a), pooled(enc.encode_one("the player walks right across the grass")[0])
    assert float(left @ right) > float(left @ pooled(c))  # similar sentences embed closer
    with pytest.warns(UserWarning, match="truncated to 16 tokens"):
        long, _ = enc.encode_one(" ".join(["grass"] * 40))
    assert long.shape[0] == 16


def test_models_with_the_same_sentence_encoder_share_it_while_it_is_alive():
    import gc

    from runtime.model.text_encoder import build_text_encoder

    a = build_text_encoder({"kind": "minilm-l6-v2", "max_tokens": 16})
    b = build_text_encoder({"kind": "minilm-l6-v2", "max_tokens": 16})
    c = build_text_encoder({"kind": "minilm-l6-v2", "max_tokens": 24})
    assert a is b and c is not a and c.max_tokens == 24
    h1, h2 = build_text_encoder({"kind": "hash"}), build_text_encoder({"kind": "hash"})
    assert h1 is not h2  # cheap: not shared
    del a, b
    gc.collect()
    from runtime.model import text_encoder

    assert ("minilm-l6-v2", 16, "cpu") not in text_encoder._SHARED  # freed with the last model that held it
