"""Windowed 3D self-attention (Swin-style cyclic shift) and prompt cross-attention.

StreamDiT (arXiv 2507.03745, section 3.3) replaces full 3D attention by attention inside non-overlapping
[Fw, Hw, Ww] token windows, shifting the windows by half a window in every other layer so information
crosses window borders. The shift is cyclic (torch.roll); tokens that the roll brings together from
opposite ends of the grid are kept apart by an attention mask, exactly as in Swin Transformer.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F_
from torch import nn

from runtime.model.rope import apply_rope, rope_cos_sin
from sdk.errors import ShapeError


def effective_window(grid: tuple[int, int, int], window: tuple[int, int, int]) -> tuple[int, int, int]:
    """Clamp the window to the grid and check that it tiles the grid.

    grid: token grid [F, H, W]; window: requested [Fw, Hw, Ww]. Raises ShapeError when a grid side is not
    a multiple of its (clamped) window side.
    """
    eff = tuple(min(w, g) for w, g in zip(window, grid))
    for axis, g, w in zip("FHW", grid, eff):
        if g % w:
            raise ShapeError(
                f"token grid {axis}={g} is not a multiple of the window side {w} (grid {list(grid)}, "
                f"window {list(window)}); choose a buffer length / resolution that the window tiles"
            )
    return eff  # type: ignore[return-value]


def shift_sizes(grid: tuple[int, int, int], window: tuple[int, int, int],
                shift: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """Cyclic shift per axis: `shift` (tokens, each below its window side), or half a window when None; no
    shift along an axis that one window already covers."""
    want = shift if shift is not None else tuple(w // 2 for w in window)
    return tuple(0 if w >= g else int(s) % w for w, g, s in zip(window, grid, want))  # type: ignore[return-value]


@functools.lru_cache(maxsize=32)
def shifted_window_mask(grid: tuple[int, int, int], window: tuple[int, int, int],
                        shift: tuple[int, int, int]) -> torch.Tensor:
    """Boolean mask [nW, 1, n, n] (True = may attend) for cyclically shifted windows, n = Fw*Hw*Ww.

    Each token of the rolled grid is labelled by which of the (up to) three slices per axis it came from;
    two tokens in the same window may attend to each other only if their labels agree, so the roll never
    joins tokens that are far apart in the unrolled grid.
    """
    labels = torch.zeros(grid, dtype=torch.long)
    mult = 1
    for axis, (g, w, s) in enumerate(zip(grid, window, shift)):
        ax = torch.zeros(g, dtype=torch.long)
        if s:
            ax[g - w: g - s] = 1
            ax[g - s:] = 2
        shape = [1, 1, 1]
        shape[axis] = g
        labels = labels + mult * ax.view(shape)
        mult *= 3
    win = partition_windows(labels[None, ..., None, None], window)  # (1, nW, 1, n, 1)
    win = win[0, :, 0, :, 0]  # (nW, n)
    return (win[:, :, None] == win[:, None, :])[:, None]  # (nW, 1, n, n)


@functools.lru_cache(maxsize=64)
def _window_mask_on(grid: tuple[int, int, int], window: tuple[int, int, int], shift: tuple[int, int, int],
                    device: torch.device) -> torch.Tensor:
    """shifted_window_mask already on `device`, cached per device and shape (no copy per call)."""
    return shifted_window_mask(grid, window, shift).to(device)


def partition_windows(x: torch.Tensor, window: tuple[int, int, int]) -> torch.Tensor:
    """[B, F, H, W, heads, d] -> [B, nW, heads, n, d] with n = Fw*Hw*Ww tokens per window."""
    B, F, H, W, h, d = x.shape
    fw, hw, ww = window
    x = x.view(B, F // fw, fw, H // hw, hw, W // ww, ww, h, d)
    x = x.permute(0, 1, 3, 5, 7, 2, 4, 6, 8)  # (B, nF, nH, nW, heads, fw, hw, ww, d)
    return x.reshape(B, -1, h, fw * hw * ww, d)


def merge_windows(x: torch.Tensor, grid: tuple[int, int, int], window: tuple[int, int, int]) -> torch.Tensor:
    """Inverse of partition_windows: [B, nW, heads, n, d] -> [B, F, H, W, heads, d]."""
    B, _, h, _, d = x.shape
    F, H, W = grid
    fw, hw, ww = window
    x = x.view(B, F // fw, H // hw, W // ww, h, fw, hw, ww, d)
    x = x.permute(0, 1, 5, 2, 6, 3, 7, 4, 8)  # (B, nF, fw, nH, hw, nW, ww, heads, d)
    return x.reshape(B, F, H, W, h, d)


class RMSNorm(nn.Module):
    """Root-mean-square norm over the last dim with a learned scale."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F_.rms_norm(x, (x.shape[-1],), self.weight.to(x.dtype), self.eps)


class WindowSelfAttention(nn.Module):
    """Multi-head self-attention inside [Fw, Hw, Ww] windows, optionally cyclically shifted by half a window.

    Input and output: [B, F, H, W, D] tokens. Positions enter through 3D RoPE applied before the roll,
    so the rotation matches each token's true grid coordinate. shift: tokens per axis to roll a shifted
    layer's windows by (None = half a window).
    """

    def __init__(self, dim: int, num_heads: int, window: tuple[int, int, int], shifted: bool,
                 rope_theta: float = 10000.0, qk_norm: bool = True,
                 shift: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.window = tuple(window)
        self.shifted = shifted
        self.shift = tuple(shift) if shift is not None else None  # None = half a window
        self.rope_theta = rope_theta
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.q_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, F, H, W, D = x.shape
        grid = (F, H, W)
        win = effective_window(grid, self.window)
        shift = shift_sizes(grid, win, self.shift) if self.shifted else (0, 0, 0)
        qkv = self.qkv(x).view(B, F, H, W, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.unbind(dim=4)  # each (B, F, H, W, heads, head_dim)
        q, k = self.q_norm(q), self.k_norm(k)
        cos, sin = rope_cos_sin(F, H, W, self.head_dim, self.rope_theta, x.device, q.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        mask = None
        if any(shift):
            dims = (1, 2, 3)
            neg = tuple(-s for s in shift)
            q, k, v = (torch.roll(t, neg, dims) for t in (q, k, v))
            mask = _window_mask_on(grid, win, shift, x.device)  # (nW, 1, n, n)
        qw, kw, vw = (partition_windows(t, win) for t in (q, k, v))  # (B, nW, heads, n, head_dim)
        nW, n = qw.shape[1], qw.shape[3]
        # SDPA's fused CPU (flash) kernel takes 4-D inputs only; a 5-D call falls back to the unfused math
        # path (bmm + softmax + copies), which was 35 % of a streaming step. Fold windows into the batch.
        qw, kw, vw = (t.reshape(B * nW, self.num_heads, n, self.head_dim) for t in (qw, kw, vw))
        if mask is not None:
            mask = mask.expand(B, nW, 1, n, n).reshape(B * nW, 1, n, n)
        out = F_.scaled_dot_product_attention(qw, kw, vw, attn_mask=mask)  # (B*nW, heads, n, head_dim)
        out = merge_windows(out.view(B, nW, self.num_heads, n, self.head_dim), grid, win)  # (B, F, H, W, heads, d)
        if any(shift):
            out = torch.roll(out, shift, (1, 2, 3))
        return self.proj(out.reshape(B, F, H, W, D))


class CrossAttention(nn.Module):
    """Tokens attend to the prompt's token embeddings.

    x: [B, N, D] tokens; text: [B, L, D_text]; text_mask: [B, L] bool, True for real tokens (every row
    must have at least one True, which the model guarantees with its learned null token).
    """

    def __init__(self, dim: int, text_dim: int, num_heads: int, qk_norm: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(text_dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.q_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        L = text.shape[1]
        q = self.q_norm(self.q(x).view(B, N, self.num_heads, self.head_dim)).transpose(1, 2)  # (B, h, N, d)
        kv = self.kv(text).view(B, L, 2, self.num_heads, self.head_dim)
        k, v = self.k_norm(kv[:, :, 0]).transpose(1, 2), kv[:, :, 1].transpose(1, 2)  # (B, h, L, d)
        mask = text_mask[:, None, None, :]  # (B, 1, 1, L)
        out = F_.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype), attn_mask=mask)  # (B, h, N, d)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))
