"""Prompt embeddings for the engine: mixes of texts, and transitions that interpolate them over chunks.

`PromptBlender` lives on the engine thread, one per session. `retarget(spec, steps, chunk)` starts moving the
embedding from where it is now to `spec`'s embedding; `embedding_at(chunk)` gives the embedding for a chunk:
alpha = (chunk - start + 1) / steps, so steps 0 or 1 switch at once and steps n take n chunks.
Texts are encoded by the (cached) text encoder; the input thread encodes them first, so here they hit the cache.
"""

from __future__ import annotations

import torch

from runtime.model.text_encoder import TextEncoder
from runtime.serving.prompt_map import PromptSpec


def pad_to(emb: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad token embeddings [L, D] and mask [L] to `length` tokens."""
    n = emb.shape[0]
    if n == length:
        return emb, mask
    return (torch.cat([emb, emb.new_zeros(length - n, emb.shape[1])]),
            torch.cat([mask, mask.new_zeros(length - n)]))


def lerp_prompt(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor],
                alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(1 - alpha) * a + alpha * b over zero-padded tokens; the mask is the union (alpha 1 gives b exactly)."""
    if alpha >= 1.0:
        return b
    L = max(a[0].shape[0], b[0].shape[0])
    (ea, ma), (eb, mb) = pad_to(*a, L), pad_to(*b, L)
    return (1 - alpha) * ea + alpha * eb, ma | mb  # (L, D), (L,)


def embed_spec(encoder: TextEncoder, spec: PromptSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """A mix of (text, weight) -> ([L, D] float32, [L] bool): the weighted sum of padded token embeddings."""
    parts = [(encoder.encode_one(t), w) for t, w in spec]
    if len(parts) == 1:
        return parts[0][0]
    L = max(e.shape[0] for (e, _), _ in parts)
    emb = torch.zeros(L, encoder.dim)
    mask = torch.zeros(L, dtype=torch.bool)
    for (e, mk), w in parts:
        pe, pm = pad_to(e, mk, L)
        emb += w * pe
        mask |= pm
    return emb, mask


class PromptBlender:
    """The embedding of one session's prompt, chunk by chunk (engine thread only)."""

    def __init__(self, encoder: TextEncoder, spec: PromptSpec) -> None:
        self.encoder = encoder
        self.target = spec
        self._to = embed_spec(encoder, spec)
        self._from = self._to
        self._start, self._steps = 0, 1
        self.current = self._to

    def retarget(self, spec: PromptSpec, steps: int, chunk: int) -> None:
        """Blend from the current embedding to `spec` over `steps` chunks, starting at `chunk`."""
        if spec == self.target:
            return
        self._from, self._to = self.current, embed_spec(self.encoder, spec)
        self.target, self._start, self._steps = spec, chunk, max(1, int(steps))

    def embedding_at(self, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The embedding for `chunk` (monotone in chunk; call in chunk order)."""
        alpha = min(1.0, max(0.0, (chunk - self._start + 1) / self._steps))
        self.current = lerp_prompt(self._from, self._to, alpha)
        return self.current
