"""The StreamDiT transformer: an adaLN-Zero DiT with per-frame time embedding and windowed attention.

Source: StreamDiT (arXiv 2507.03745), section 3.3 and figure 3; DiT (Peebles & Xie, 2023) for adaLN-Zero.
Each latent frame has its own flow time tau (DESIGN.md; 0 = noise, 1 = clean), so each frame's tokens get their own shift, scale and gate.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from runtime.model.attention import CrossAttention, WindowSelfAttention
from runtime.model.config import DiTConfig
from sdk.errors import ShapeError


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation. x: [B, F, N, D] tokens of each frame; shift, scale: [B, F, 1, D]."""
    return x * (1 + scale) + shift


class TimestepEmbedder(nn.Module):
    """Flow time tau in [0, 1] (0 = noise, 1 = data) -> [.., D] through sinusoids and an MLP."""

    def __init__(self, dim: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = (t.float() * 1000.0)[..., None] * freqs  # (..., half)
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (..., freq_dim)
        return self.mlp(emb)


class DiTBlock(nn.Module):
    """Windowed self-attention (adaLN-Zero, per frame) -> cross-attention to the prompt -> MLP (adaLN-Zero)."""

    def __init__(self, cfg: DiTConfig, shifted: bool) -> None:
        super().__init__()
        D = cfg.hidden_size
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.attn = WindowSelfAttention(D, cfg.num_heads, cfg.window, shifted, cfg.rope_theta, cfg.qk_norm,
                                        cfg.window_shift)
        self.norm2 = nn.LayerNorm(D, eps=1e-6)
        self.cross = CrossAttention(D, cfg.text_dim, cfg.num_heads, cfg.qk_norm)
        self.norm3 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        hidden = int(D * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(D, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, D))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))

    def forward(self, x: torch.Tensor, c: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """x: [B, F, H, W, D] tokens; c: [B, F, D] per-frame conditioning; returns x's shape."""
        B, F, H, W, D = x.shape
        mod = self.adaLN_modulation(c)[:, :, None, :]  # (B, F, 1, 6D)
        sh_a, sc_a, g_a, sh_m, sc_m, g_m = mod.chunk(6, dim=-1)  # each (B, F, 1, D)
        xf = x.view(B, F, H * W, D)  # (B, F, N, D), N = H*W tokens per frame
        h = modulate(self.norm1(xf), sh_a, sc_a).view(B, F, H, W, D)
        xf = xf + g_a * self.attn(h).view(B, F, H * W, D)
        xs = xf.reshape(B, F * H * W, D)
        xs = xs + self.cross(self.norm2(xs), text, text_mask)  # (B, F*H*W, D)
        xf = xs.view(B, F, H * W, D)
        xf = xf + g_m * self.mlp(modulate(self.norm3(xf), sh_m, sc_m))
        return xf.view(B, F, H, W, D)


class FinalLayer(nn.Module):
    """Per-frame adaLN, then a linear map from D to p*p*C values per token."""

    def __init__(self, D: int, patch: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(D, patch * patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        B, F, H, W, D = x.shape
        shift, scale = self.adaLN_modulation(c)[:, :, None, :].chunk(2, dim=-1)  # (B, F, 1, D) each
        x = modulate(self.norm(x.view(B, F, H * W, D)), shift, scale)
        return self.linear(x).view(B, F, H, W, -1)  # (B, F, H, W, p*p*C)


class StreamDiT(nn.Module):
    """The StreamDiT velocity model.

    forward(x, t, text, text_mask, drop=None):
        x:         [B, C, F, H, W] float latent video (C = cfg.in_channels; H, W multiples of patch_size)
        t:         [B, F] float flow time tau per frame, 0 = pure noise, 1 = clean
        text:      [B, L, D_text] float prompt token embeddings
        text_mask: [B, L] bool, True for real tokens
        drop:      optional [B] bool; rows where it is True see the learned null prompt (prompt dropout)
        returns    [B, C, F, H, W] velocity, in x's dtype

    Raises ShapeError naming the expected and actual shape when an input does not fit.
    """

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D, p, C = cfg.hidden_size, cfg.patch_size, cfg.in_channels
        self.x_embed = nn.Linear(C * p * p, D)
        self.t_embed = TimestepEmbedder(D)
        self.text_pool = nn.Linear(cfg.text_dim, D) if cfg.pooled_text else None
        # Learned "empty prompt": used for prompt dropout in training and as the unconditional branch of CFG.
        self.null_text = nn.Parameter(torch.zeros(1, 1, cfg.text_dim))
        self.blocks = nn.ModuleList([DiTBlock(cfg, shifted=(i % 2 == 1)) for i in range(cfg.depth)])
        self.final = FinalLayer(D, p, C)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """All initialisation in one place: Xavier linears, adaLN gates and the output layer at zero,
        so every block starts as the identity (DiT, section 3.2)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.t_embed.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embed.mlp[2].weight, std=0.02)
        nn.init.normal_(self.null_text, std=0.02)
        for blk in self.blocks:
            nn.init.zeros_(blk.adaLN_modulation[-1].weight)
            nn.init.zeros_(blk.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final.linear.weight)
        nn.init.zeros_(self.final.linear.bias)

    def null_prompt(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned empty prompt: ([batch, 1, D_text], [batch, 1] all True)."""
        emb = self.null_text.expand(batch, 1, -1)
        return emb, torch.ones(batch, 1, dtype=torch.bool, device=emb.device)

    def drop_prompt(self, text: torch.Tensor, text_mask: torch.Tensor,
                    drop: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Replace the prompts of rows where drop [B] (bool) is True by the null prompt (CFG training).

        Always goes through torch.where, so the null prompt takes part in every training step (DDP needs
        every parameter to be used).
        """
        null = self.null_text.to(text.dtype).expand(text.shape[0], text.shape[1], -1)
        null_mask = torch.zeros_like(text_mask)
        null_mask[:, 0] = True
        d = drop[:, None]
        return torch.where(d[..., None], null, text), torch.where(d, null_mask, text_mask)

    def _check(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> None:
        cfg = self.cfg
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            raise ShapeError(f"x must be [batch, {cfg.in_channels}, frames, height, width], got {list(x.shape)}")
        B, _, F, H, W = x.shape
        if H % cfg.patch_size or W % cfg.patch_size:
            raise ShapeError(f"latent height and width must be multiples of patch_size {cfg.patch_size}, got ({H}, {W})")
        if tuple(t.shape) != (B, F):
            raise ShapeError(f"t must give one flow time tau per frame, shape [{B}, {F}], got {list(t.shape)}")
        if text.ndim != 3 or text.shape[0] != B or text.shape[2] != cfg.text_dim:
            raise ShapeError(f"text must be [{B}, tokens, {cfg.text_dim}], got {list(text.shape)}")
        if tuple(text_mask.shape) != tuple(text.shape[:2]) or text_mask.dtype != torch.bool:
            raise ShapeError(f"text_mask must be bool [{B}, {text.shape[1]}], got {text_mask.dtype} {list(text_mask.shape)}")

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                drop: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, t, text, text_mask)
        if drop is not None:
            text, text_mask = self.drop_prompt(text, text_mask, drop)
        cfg = self.cfg
        B, C, F, H, W = x.shape
        p = cfg.patch_size
        h, w = H // p, W // p
        tok = x.view(B, C, F, h, p, w, p).permute(0, 2, 3, 5, 1, 4, 6).reshape(B, F, h, w, C * p * p)
        tok = self.x_embed(tok)  # (B, F, h, w, D)
        c = self.t_embed(t)  # (B, F, D): one conditioning vector per frame
        if self.text_pool is not None:
            m = text_mask[..., None].to(text.dtype)
            pooled = (text * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, D_text)
            c = c + self.text_pool(pooled)[:, None, :]
        for blk in self.blocks:
            tok = blk(tok, c, text, text_mask)
        out = self.final(tok, c)  # (B, F, h, w, p*p*C)
        out = out.view(B, F, h, w, C, p, p).permute(0, 4, 1, 2, 5, 3, 6).reshape(B, C, F, H, W)
        return out.to(x.dtype)
