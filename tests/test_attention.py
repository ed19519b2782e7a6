"""Windowed 3D self-attention: the window mask and the cyclic shift (DESIGN.md section 4)."""

import pytest
import torch

from runtime.model.attention import WindowSelfAttention, effective_window, shifted_window_mask, shift_sizes
from sdk.errors import ShapeError

GRID = (4, 4, 4)  # F, H, W tokens
WIN = (2, 2, 2)


def _jacobian_support(attn: WindowSelfAttention, token: tuple[int, int, int]) -> torch.Tensor:
    """Boolean [F, H, W]: which input tokens the output at `token` depends on (nonzero gradient)."""
    torch.manual_seed(0)
    x = torch.randn(1, *GRID, 16, requires_grad=True)
    out = attn(x)
    out[(0, *token)].sum().backward()
    return x.grad[0].abs().sum(-1) > 0


def _window_of(token, shift=(0, 0, 0)):
    """Set of grid coordinates in the same (possibly shifted) window as token, ignoring the wrap mask."""
    idx = [((t - s) % g) // w for t, s, g, w in zip(token, shift, GRID, WIN)]
    return {(f, h, w) for f in range(GRID[0]) for h in range(GRID[1]) for w in range(GRID[2])
            if [((c - s) % g) // ww for c, s, g, ww in zip((f, h, w), shift, GRID, WIN)] == idx}


def test_unshifted_window_gradient_is_zero_outside_the_window():
    attn = WindowSelfAttention(16, 2, WIN, shifted=False)
    for token in [(0, 0, 0), (1, 2, 3), (3, 3, 3)]:
        support = _jacobian_support(attn, token)
        inside = _window_of(token)
        for f in range(4):
            for h in range(4):
                for w in range(4):
                    assert bool(support[f, h, w]) == ((f, h, w) in inside), (token, (f, h, w))


def test_shifted_layer_connects_neighbouring_windows():
    attn = WindowSelfAttention(16, 2, WIN, shifted=True)
    # Token (1,1,1) sits in unshifted window (0,0,0); in the shifted layer its window spans (1..2)^3,
    # which reaches token (2,2,2) of the neighbouring unshifted window.
    support = _jacobian_support(attn, (1, 1, 1))
    assert support[2, 2, 2] and support[1, 2, 1]
    assert not support[0, 0, 0]  # now outside its window


def test_shifted_layer_does_not_join_opposite_ends_through_the_roll():
    attn = WindowSelfAttention(16, 2, WIN, shifted=True)
    # After rolling by -1, tokens at index 3 and index 0 share a window; the mask must keep them apart.
    support = _jacobian_support(attn, (3, 3, 3))
    assert support[3, 3, 3]
    assert not support[0, 0, 0] and not support[0, 3, 3] and not support[3, 0, 3]
    # Each axis contributes a separate label, so the mask's windows at the corner hold one label each.
    mask = shifted_window_mask(GRID, WIN, shift_sizes(GRID, WIN))
    assert mask.shape == (8, 1, 8, 8)
    assert mask[-1, 0].float().sum() == 8  # last window: 8 tokens, each only with itself
    assert mask[0, 0].all()  # first window: an interior region, fully connected


def test_window_must_tile_the_grid():
    with pytest.raises(ShapeError, match="not a multiple"):
        effective_window((6, 4, 4), (4, 4, 4))
    assert effective_window((2, 4, 4), (4, 8, 8)) == (2, 4, 4)  # clamped to the grid


@pytest.mark.parametrize("shifted", [False, True])
def test_batch_elements_attend_only_within_themselves(shifted):
    """Windows of every batch element are folded into one SDPA batch (with the shift mask repeated per
    element): each element's output must equal running it alone."""
    torch.manual_seed(1)
    attn = WindowSelfAttention(16, 2, WIN, shifted=shifted).eval()
    x = torch.randn(3, *GRID, 16)
    with torch.no_grad():
        together = attn(x)
        alone = torch.cat([attn(x[i: i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(together[0], together[1])  # the elements differ, so a mix-up would show


def test_configured_shift_moves_the_windows_and_round_trips():
    """window_shift overrides the half-window shift of the odd blocks (and is validated and saved)."""
    from runtime.model.config import DiTConfig
    from runtime.model.dit import StreamDiT
    from sdk.errors import ConfigError

    assert shift_sizes((16, 8, 8), (4, 8, 8)) == (2, 0, 0)
    assert shift_sizes((16, 8, 8), (4, 8, 8), (1, 0, 0)) == (1, 0, 0)
    grid, win = (8, 4, 4), (4, 2, 2)
    attn = WindowSelfAttention(16, 2, win, shifted=True, shift=(1, 1, 1))
    torch.manual_seed(0)
    x = torch.randn(1, *grid, 16, requires_grad=True)
    attn(x)[0, 1, 0, 0].sum().backward()  # frame 1 after a 1-frame roll shares a window with frames 1..4
    support = x.grad[0].abs().sum((-1, -2, -3)) > 0
    assert support.tolist() == [False, True, True, True, True, False, False, False]

    cfg = DiTConfig(in_channels=4, hidden_size=32, depth=2, num_heads=2, window=(4, 4, 4), window_shift=(1, 2, 2))
    assert DiTConfig.from_dict(cfg.to_dict()) == cfg and "window_shift" not in DiTConfig().to_dict()
    assert StreamDiT(cfg).blocks[1].attn.shift == (1, 2, 2)
    with pytest.raises(ConfigError, match="window_shift"):
        DiTConfig(window=(4, 4, 4), window_shift=(4, 0, 0))
