"""The StreamDiT DiT: shapes, per-frame adaLN-Zero, prompt conditioning, errors."""

import pytest
import torch

from runtime.model.config import DiTConfig
from runtime.model.dit import StreamDiT
from sdk.errors import ConfigError, ShapeError


def _randomised(cfg: DiTConfig) -> StreamDiT:
    """A model whose zero-initialised adaLN and output layers are made random, so outputs depend on inputs."""
    torch.manual_seed(0)
    m = StreamDiT(cfg).eval()
    for blk in m.blocks:
        torch.nn.init.normal_(blk.adaLN_modulation[-1].weight, std=0.1)
    torch.nn.init.normal_(m.final.adaLN_modulation[-1].weight, std=0.1)
    torch.nn.init.normal_(m.final.linear.weight, std=0.1)
    return m


def _inputs(F=8, B=2, cfg=None):
    cfg = cfg or DiTConfig(hidden_size=32, depth=2, num_heads=2, in_channels=4, window=(4, 4, 4))
    x = torch.randn(B, cfg.in_channels, F, 8, 8)
    t = torch.rand(B, F)
    text = torch.randn(B, 5, cfg.text_dim)
    mask = torch.ones(B, 5, dtype=torch.bool)
    return cfg, x, t, text, mask


def test_output_is_a_velocity_of_the_latent_shape():
    cfg, x, t, text, mask = _inputs()
    v = _randomised(cfg)(x, t, text, mask)
    assert v.shape == x.shape and v.dtype == x.dtype and torch.isfinite(v).all()


def test_zero_init_makes_the_model_output_zero():
    cfg, x, t, text, mask = _inputs()
    assert StreamDiT(cfg)(x, t, text, mask).abs().max() == 0  # adaLN-Zero: every block starts as identity


def test_per_frame_modulation_touches_only_that_frame():
    # Attention across frames disabled: temporal window 1. Changing frame j's level changes only frame j.
    cfg = DiTConfig(hidden_size=32, depth=2, num_heads=2, in_channels=4, window=(1, 4, 4))
    _, x, t, text, mask = _inputs(cfg=cfg)
    m = _randomised(cfg)
    with torch.no_grad():
        base = m(x, t, text, mask)
        j = 3
        t2 = t.clone()
        t2[:, j] = (t2[:, j] + 0.5) % 1.0
        moved = m(x, t2, text, mask)
    diff = (moved - base).abs().amax(dim=(1, 3, 4))  # (B, F)
    assert (diff[:, j] > 1e-4).all()
    others = [f for f in range(x.shape[2]) if f != j]
    assert diff[:, others].max() == 0


def test_temporal_attention_mixes_frames_when_enabled():
    cfg, x, t, text, mask = _inputs()
    m = _randomised(cfg)
    with torch.no_grad():
        t2 = t.clone()
        t2[:, 3] = (t2[:, 3] + 0.5) % 1.0
        diff = (m(x, t2, text, mask) - m(x, t, text, mask)).abs().amax(dim=(1, 3, 4))
    assert (diff[:, 2] > 0).all()  # frame 2 shares a [4, 4, 4] window with frame 3


def test_prompt_changes_the_output_and_padding_is_ignored():
    cfg, x, t, text, mask = _inputs()
    m = _randomised(cfg)
    with torch.no_grad():
        a = m(x, t, text, mask)
        b = m(x, t, torch.randn_like(text), mask)
        padded = torch.cat([text, torch.randn(2, 3, cfg.text_dim)], 1)
        pmask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], 1)
        c = m(x, t, padded, pmask)
    assert (a - b).abs().max() > 1e-3
    torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-5)


def test_prompt_dropout_uses_the_null_prompt():
    cfg, x, t, text, mask = _inputs()
    m = _randomised(cfg)
    dt, dm = m.drop_prompt(text, mask, torch.tensor([True, False]))
    assert dm[0].tolist() == [True, False, False, False, False] and dm[1].all()
    torch.testing.assert_close(dt[0, 0], m.null_text[0, 0])
    torch.testing.assert_close(dt[1], text[1])


def test_bf16_autocast_stays_close_to_fp32():
    cfg, x, t, text, mask = _inputs()
    m = _randomised(cfg)
    with torch.no_grad():
        ref = m(x, t, text, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x, t, text, mask)
    assert low.dtype == torch.float32
    assert (low - ref).abs().max() < 0.1 * ref.abs().max()


def test_frame_count_is_free_with_rope():
    cfg, x, t, text, mask = _inputs(F=12)
    assert _randomised(cfg)(x, t, text, mask).shape == x.shape


@pytest.mark.parametrize("bad", ["x", "t", "text", "mask", "hw"])
def test_wrong_shapes_name_the_problem(bad):
    cfg, x, t, text, mask = _inputs()
    m = StreamDiT(cfg)
    if bad == "x":
        x = x[:, :3]
    elif bad == "t":
        t = t[:, :5]
    elif bad == "text":
        text = text[..., :10]
    elif bad == "mask":
        mask = mask.float()
    elif bad == "hw":
        x = torch.randn(2, 4, 8, 7, 8)
    with pytest.raises(ShapeError) as e:
        m(x, t, text, mask)
    assert "got" in str(e.value)


def test_config_validation():
    with pytest.raises(ConfigError, match="divisible"):
        DiTConfig(hidden_size=30, num_heads=4)
    with pytest.raises(ConfigError, match="multiple of 8"):
        DiTConfig(hidden_size=36, num_heads=3)
    with pytest.raises(ConfigError, match="unknown DiT config keys"):
        DiTConfig.from_dict({"hidden": 3})
    assert DiTConfig.from_dict(DiTConfig().to_dict()) == DiTConfig()
