"""3D rotary position embedding over (frame, row, column) token coordinates.

RoPE encodes only relative offsets inside attention, so it extends to any number of frames and is
unchanged when the moving buffer shifts by a chunk (DESIGN.md section 4).
"""

from __future__ import annotations

import functools

import torch


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """Split head_dim (a multiple of 8) into even sub-dimensions for (frame, row, column)."""
    d_s = 2 * ((3 * head_dim) // 16)
    d_t = head_dim - 2 * d_s
    return d_t, d_s, d_s


def _axis_angles(n: int, dim: int, theta: float) -> torch.Tensor:
    """Angles of shape [n, dim/2] (float64) for positions 0..n-1."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    return torch.outer(torch.arange(n, dtype=torch.float64), freqs)


@functools.lru_cache(maxsize=32)
def _rope_tables(F: int, H: int, W: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    d_t, d_h, d_w = rope_split(head_dim)
    a_t = _axis_angles(F, d_t, theta)[:, None, None, :].expand(F, H, W, d_t // 2)
    a_h = _axis_angles(H, d_h, theta)[None, :, None, :].expand(F, H, W, d_h // 2)
    a_w = _axis_angles(W, d_w, theta)[None, None, :, :].expand(F, H, W, d_w // 2)
    ang = torch.cat([a_t, a_h, a_w], dim=-1)  # (F, H, W, head_dim/2)
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope_cos_sin(F: int, H: int, W: int, head_dim: int, theta: float, device: torch.device,
                 dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables of shape [F, H, W, head_dim/2] for a token grid, cached per grid, device and dtype
    (a streaming step asks for the same tables every call: no rebuild and no host-to-device copy)."""
    return _rope_tables_on(F, H, W, head_dim, float(theta), torch.device(device), dtype)


@functools.lru_cache(maxsize=64)
def _rope_tables_on(F: int, H: int, W: int, head_dim: int, theta: float, device: torch.device,
                    dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    cos, sin = _rope_tables(F, H, W, head_dim, theta)
    return cos.to(device=device, dtype=dtype), sin.to(device=device, dtype=dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x[2i], x[2i+1]) of the last dim.

    x: [B, F, H, W, heads, head_dim]; cos, sin: [F, H, W, head_dim/2]. Returns x's shape and dtype.
    """
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (B, F, H, W, heads, head_dim/2)
    c, s = cos[:, :, :, None, :], sin[:, :, :, None, :]
    out = torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)  # (..., head_dim/2, 2)
    return out.flatten(-2)
