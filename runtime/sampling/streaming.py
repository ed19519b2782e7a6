"""The moving buffer and the streaming sampler (StreamDiT, arXiv 2507.03745, section 3.2 and figure 2).

Lifecycle (STYLE.md, rule 5): construct with the model and the partitioning scheme; `add_stream` per
independent video stream; `step()` is the hot path: one batched forward pass over the buffers of all
streams, the per-frame Euler update x <- x + v * dtau, and, every s micro-steps, each stream pops its
cleanest chunk (emitted) and pushes a chunk of fresh noise. `set_prompt` is a cheap live change that
takes effect from the next step; `set_negative_prompt` guides a stream away from another prompt (an event's
guidance against the prompt before it, runtime.serving.engine) until `clear_negative_prompt`.

Startup: a new stream runs the uniform-noise (text-to-video) pass inside the same batched steps, and
its intermediate latents fill each buffer position with the latent whose level matches that position.
Video-to-video (runtime.sampling.v2v) starts that pass part-way, from source latents noised to a level
(`add_stream(start=...)`), and writes noised source chunks into the buffer at chunk boundaries
(`write_chunks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from runtime.model.compiled import CompiledForward
from runtime.model.dit import StreamDiT
from runtime.sampling.euler import guided_velocity
from runtime.sampling.partition import PartitionScheme
from sdk.errors import ConfigError, ShapeError


@dataclass
class EmittedChunk:
    """A clean chunk popped from a stream's buffer.

    latent: float32 [C, c, H, W] on the sampler's device; chunk_index counts the stream's chunks from 0;
    level: the flow time tau of the chunk as it leaves the buffer, from the scheme: 1.0 (clean; section 3.2).
    """

    stream_id: int
    chunk_index: int
    latent: torch.Tensor
    level: float


@dataclass
class _Stream:
    """Per-stream state. Every field is set at creation (no state appears later)."""

    id: int
    text: torch.Tensor  # (L, D_text)
    text_mask: torch.Tensor  # (L,) bool
    generator: torch.Generator
    x: torch.Tensor  # (C, B, H, W) float32: the buffer
    tau: torch.Tensor  # (B,) float64: accumulated level of every frame (bookkeeping, checked at emission)
    warmup_step: int = 0  # uniform-pass steps done; streaming starts when it reaches scheme.steps_to_fill
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)  # warmup step -> latent (C, B, H, W)
    micro_step: int = 0  # j in [0, s)
    chunk_ids: list[int] = field(default_factory=list)  # chunk index at each buffer chunk position
    next_chunk: int = 0
    negative: tuple[torch.Tensor, torch.Tensor, float] | None = None  # (L, D_text), (L,) bool, scale: see step()

    @property
    def streaming(self) -> bool:
        return bool(self.chunk_ids)


class StreamingSampler:
    """Streams video latents from a StreamDiT model over a moving buffer, for many streams at once.

    Args:
        model: the velocity model (put in eval mode here).
        scheme: the partitioning scheme (K, N, c, s).
        latent_shape: (C, H, W) of one latent frame.
        guidance_scale: classifier-free guidance scale; 1.0 disables CFG (one model call per step).
        autocast_dtype: torch.bfloat16 to run the model under autocast (fast on CPUs with AMX/AVX-512 bf16
            and on GPUs), or None for float32.
        max_streams: refuse add_stream beyond this many streams (None = no limit).
        compile: run the model through runtime.model.compiled.CompiledForward (torch.compile with frozen
            weights: faster steps, see docs/performance.md, but the first step compiles for tens of seconds
            and later weight changes are not seen). Callers decide with runtime.model.compiled.resolve_compile.
        text_tokens: pad every batch of prompts to at least this many tokens (the text encoder's limit), so a
            compiled model sees one text shape whatever the prompts; None = pad to the longest prompt.
        forward: what step() calls instead of the model, with the model's arguments and result and its
            null_prompt(batch): a backend's velocity model (runtime.backends, e.g. onnxruntime's); None = the
            model itself (or its CompiledForward with compile=True).
    """

    def __init__(self, model: StreamDiT, scheme: PartitionScheme, latent_shape: tuple[int, int, int], *,
                 guidance_scale: float = 1.0, autocast_dtype: torch.dtype | None = torch.bfloat16,
                 max_streams: int | None = None, compile: bool = False, text_tokens: int | None = None,
                 forward: Callable[..., torch.Tensor] | None = None) -> None:
        if len(latent_shape) != 3 or latent_shape[0] != model.cfg.in_channels:
            raise ShapeError(f"latent_shape must be (C={model.cfg.in_channels}, H, W), got {tuple(latent_shape)}")
        if guidance_scale < 0:
            raise ConfigError(f"guidance_scale must be >= 0, got {guidance_scale}")
        self.model = model.eval()
        self.scheme = scheme
        self.latent_shape = tuple(int(v) for v in latent_shape)
        self.guidance_scale = float(guidance_scale)
        self.autocast_dtype = autocast_dtype
        self.max_streams = max_streams
        self.text_tokens = text_tokens
        if forward is not None and compile:
            raise ConfigError("compile applies to the torch model; a backend's forward runs as it is: pass one or "
                              "the other")
        self.forward = forward or (CompiledForward(self.model) if compile else self.model)  # what step() calls
        self.device = next(model.parameters()).device
        self.model_calls = 0  # forward passes so far (a CFG pass counts once: one batched call)
        self._streams: dict[int, _Stream] = {}
        self._next_id = 0
        # Built once, on the device: the per-step path only indexes them (DESIGN.md: nothing twice per step).
        self._dtau = scheme.step_sizes().to(self.device)  # (B,) float64
        self._levels = scheme.level_table().to(self.device)  # (s, B) float64: tau per position per micro-step
        T = scheme.T
        self._warmup_levels = (torch.arange(T + 1, dtype=torch.float64, device=self.device) / T)[:, None].expand(
            T + 1, scheme.B)  # (T + 1, B): the uniform startup pass, every frame at warm-up step k / T
        self._warmup_dtau = torch.full((scheme.B,), 1.0 / T, dtype=torch.float64, device=self.device)  # (B,)

    # ----------------------------------------------------------------------------------- stream control
    @property
    def compiled(self) -> bool:
        """True while steps run the compiled model (False when built eager, or after a compile failure)."""
        return isinstance(self.forward, CompiledForward) and self.forward.active

    @property
    def stream_ids(self) -> list[int]:
        return list(self._streams)

    def add_stream(self, text: torch.Tensor, text_mask: torch.Tensor, *, seed: int | None = None,
                   start: torch.Tensor | None = None, start_step: int = 0, sigma_min: float = 1e-5) -> int:
        """Start a stream with a prompt ([L, D_text] embeddings, [L] bool mask); returns its id.

        The stream warms up for scheme.steps_to_fill batched steps before it emits its first chunk.
        start: optional clean latents float32 [C, B, H, W] to start from (video-to-video, SDEdit): the uniform
        pass begins at warm-up step `start_step` (level start_step / T) from `start` noised to that level with
        the stream's own initial noise x0, x = t*start + (1 - (1 - sigma_min) t) x0; the snapshots of earlier
        steps are `start` noised to their levels with the same x0. start_step = 0 is exactly the text-only
        start (0 * start + 1 * x0 = x0); start_step >= steps_to_fill fills the buffer without a model call.
        """
        if self.max_streams is not None and len(self._streams) >= self.max_streams:
            raise ConfigError(f"the sampler already runs max_streams = {self.max_streams} streams; remove one first")
        text, text_mask = self._check_prompt(text, text_mask)
        g = torch.Generator(device=self.device)
        g.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item()))
        C, H, W = self.latent_shape
        x = torch.randn(C, self.scheme.B, H, W, generator=g, device=self.device)
        st = _Stream(id=self._next_id, text=text, text_mask=text_mask, generator=g, x=x,
                     tau=torch.zeros(self.scheme.B, dtype=torch.float64, device=self.device))
        st.snapshots[0] = x.clone()
        if start is not None and start_step > 0:
            self._start_from(st, start, start_step, sigma_min)
        self._streams[st.id] = st
        self._next_id += 1
        self._maybe_finish_warmup(st)
        return st.id

    def set_prompt(self, stream_id: int, text: torch.Tensor, text_mask: torch.Tensor) -> None:
        """Replace a stream's prompt; it takes effect from the next step."""
        st = self._get(stream_id)
        st.text, st.text_mask = self._check_prompt(text, text_mask)

    def set_negative_prompt(self, stream_id: int, text: torch.Tensor, text_mask: torch.Tensor, scale: float) -> None:
        """Guide a stream away from a negative prompt ([L, D_text] embeddings, [L] bool mask) from the next step
        on: its velocity becomes v + scale * (v - v_neg), v_neg the model's velocity for the same buffer under
        the negative prompt (classifier-free guidance with the negative prompt in place of the empty one, Ho &
        Salimans 2022, section 3.2; with guidance_scale != 1 both sides are CFG-guided). The negative pass
        joins the step's one batched model call (one more batch row per guided stream). scale 0 clears it.
        Raises ConfigError for a scale < 0 or not finite, ShapeError for a wrong embedding."""
        st = self._get(stream_id)
        if not (scale >= 0 and scale < float("inf")):
            raise ConfigError(f"negative prompt scale must be a finite number >= 0, got {scale}")
        if scale == 0:
            st.negative = None
            return
        text, text_mask = self._check_prompt(text, text_mask)
        st.negative = (text, text_mask, float(scale))

    def clear_negative_prompt(self, stream_id: int) -> None:
        """Stop guiding the stream away from its negative prompt (from the next step)."""
        self._get(stream_id).negative = None

    def write_chunks(self, stream_id: int, first: int, x: torch.Tensor) -> None:
        """Overwrite chunk positions first, first+1, ... (0 = oldest) of a streaming stream with x, float32
        [C, n*c, H, W], between steps at a chunk boundary (micro-step 0), where position p is at level
        scheme.levels(0); video-to-video writes noised source chunks there. Raises ConfigError while the stream
        warms up or mid-chunk, ShapeError for a wrong shape."""
        st, sch = self._get(stream_id), self.scheme
        if not st.streaming or st.micro_step != 0:
            raise ConfigError("write_chunks needs a streaming stream at a chunk boundary (micro-step 0)")
        C, H, W = self.latent_shape
        n = x.shape[1] // sch.c if x.ndim == 4 else 0
        if x.ndim != 4 or tuple(x.shape) != (C, n * sch.c, H, W) or n < 1 or not 0 <= first <= sch.N - n:
            raise ShapeError(f"write_chunks takes [C={C}, n*{sch.c}, {H}, {W}] for chunk positions {first}.. within "
                             f"[0, {sch.N}), got {list(x.shape)}")
        lo = sch.K + first * sch.c
        st.x = torch.cat([st.x[:, :lo], x.to(st.x), st.x[:, lo + n * sch.c:]], dim=1)

    def remove_stream(self, stream_id: int) -> None:
        self._streams.pop(self._get(stream_id).id)

    def is_streaming(self, stream_id: int) -> bool:
        """False while the stream is still in its startup pass."""
        return self._get(stream_id).streaming

    def buffer_state(self, stream_id: int) -> tuple[list[int], torch.Tensor, int]:
        """(chunk index per chunk position, accumulated level per frame [B], micro-step) for inspection."""
        st = self._get(stream_id)
        return list(st.chunk_ids), st.tau.clone(), st.micro_step

    # ----------------------------------------------------------------------------------- the hot path
    @torch.no_grad()
    def step(self) -> list[EmittedChunk]:
        """One batched forward pass over every stream's buffer; returns the chunks emitted by this step."""
        if not self._streams:
            return []
        streams = list(self._streams.values())
        S, sch = len(streams), self.scheme
        x = torch.stack([st.x for st in streams])  # (S, C, B, H, W)
        levels, dtau = [], []
        for st in streams:
            if st.streaming:
                levels.append(self._levels[st.micro_step])
                dtau.append(self._dtau)
            else:  # uniform startup pass: every frame at the same level
                levels.append(self._warmup_levels[st.warmup_step])
                dtau.append(self._warmup_dtau)
        t = torch.stack(levels).float()  # (S, B)
        dt = torch.stack(dtau)  # (S, B) float64
        guided = [i for i, st in enumerate(streams) if st.negative is not None]
        text, mask = self._batch_prompts(streams, guided)  # (S + G, L, D_text), (S + G, L): prompts, negatives
        if guided:  # the negative prompts' rows join the same call (set_negative_prompt)
            x_in, t_in = torch.cat([x, x[guided]]), torch.cat([t, t[guided]])
        else:
            x_in, t_in = x, t
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                            enabled=self.autocast_dtype is not None):
            v = guided_velocity(self.forward, x_in, t_in, text, mask, self.guidance_scale)  # (S + G, C, B, H, W)
        if guided:
            v, v_neg = v[:S], v[S:]
            scale = torch.tensor([streams[i].negative[2] for i in guided], device=v.device)[:, None, None, None, None]
            v[guided] = v[guided] + scale * (v[guided] - v_neg)
        self.model_calls += 1
        x = x + v * dt.float()[:, None, :, None, None]
        emitted: list[EmittedChunk] = []
        for i, st in enumerate(streams):
            st.x = x[i]
            st.tau = st.tau + dt[i]
            if st.streaming:
                st.micro_step += 1
                if st.micro_step == sch.s:
                    emitted.append(self._pop_push(st))
            else:
                st.warmup_step += 1
                if st.warmup_step in self._snapshot_steps():
                    st.snapshots[st.warmup_step] = st.x.clone()
                self._maybe_finish_warmup(st)
        return emitted

    # ----------------------------------------------------------------------------------- internals
    def _snapshot_steps(self) -> set[int]:
        sch = self.scheme
        steps = {(sch.N - 1 - p) * sch.s for p in range(sch.N)}
        if sch.K:
            steps.add(sch.T)
        return steps

    def _start_from(self, st: _Stream, start: torch.Tensor, k0: int, sigma_min: float) -> None:
        """Begin the uniform pass at warm-up step k0 from `start` noised to level k0 / T (see add_stream)."""
        sch = self.scheme
        if tuple(start.shape) != tuple(st.x.shape):
            raise ShapeError(f"start must be [C, B, H, W] = {list(st.x.shape)}, got {list(start.shape)}")
        k0 = min(int(k0), sch.T)
        x0, x1 = st.x, start.to(st.x)  # (C, B, H, W): the stream's own noise and the clean source

        def noised(k: int) -> torch.Tensor:
            t = k / sch.T
            return t * x1 + (1 - (1 - sigma_min) * t) * x0

        for k in self._snapshot_steps() | {0}:
            if k <= k0:
                st.snapshots[k] = noised(k)
        st.x, st.warmup_step = noised(k0), k0
        st.tau = torch.full((sch.B,), k0 / sch.T, dtype=torch.float64, device=self.device)

    def _maybe_finish_warmup(self, st: _Stream) -> None:
        """When the startup pass has produced every level the buffer needs, assemble the buffer."""
        sch = self.scheme
        if st.streaming or st.warmup_step < sch.steps_to_fill:
            return
        x = torch.empty_like(st.x)
        tau = torch.empty(sch.B, dtype=torch.float64, device=self.device)
        if sch.K:
            x[:, : sch.K] = st.snapshots[sch.T][:, : sch.K]
            tau[: sch.K] = 1.0
        for p in range(sch.N):
            k = (sch.N - 1 - p) * sch.s
            sl = slice(sch.K + p * sch.c, sch.K + (p + 1) * sch.c)
            x[:, sl] = st.snapshots[k][:, sl]
            tau[sl] = k / sch.T
        st.x, st.tau, st.micro_step = x, tau, 0
        st.chunk_ids = list(range(sch.N))
        st.next_chunk = sch.N
        st.snapshots.clear()

    def _pop_push(self, st: _Stream) -> EmittedChunk:
        """Emit the oldest (clean) chunk, shift the buffer by c frames, push c frames of fresh noise."""
        sch = self.scheme
        K, c = sch.K, sch.c
        out = st.x[:, K: K + c].clone()  # (C, c, H, W)
        # By the scheme a leaving chunk has taken all T of its T steps, so its tau is 1.0 (read without a sync).
        chunk = EmittedChunk(st.id, st.chunk_ids.pop(0), out, 1.0)
        C, _, H, W = st.x.shape
        fresh = torch.randn(C, c, H, W, generator=st.generator, device=self.device)
        ref = torch.cat([st.x[:, :K], out], dim=1)[:, -K:] if K else st.x[:, :0]  # newest K clean frames
        st.x = torch.cat([ref, st.x[:, K + c:], fresh], dim=1)
        st.tau = torch.cat([torch.ones(K, dtype=torch.float64, device=self.device), st.tau[K + c:],
                            torch.zeros(c, dtype=torch.float64, device=self.device)])
        st.chunk_ids.append(st.next_chunk)
        st.next_chunk += 1
        st.micro_step = 0
        return chunk

    def _batch_prompts(self, streams: list[_Stream], guided: list[int] = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """Every stream's prompt, then the negative prompts of the streams `guided`, zero-padded to one length."""
        prompts = [(st.text, st.text_mask) for st in streams] + [streams[i].negative[:2] for i in guided]
        L = max([e.shape[0] for e, _ in prompts] + [self.text_tokens or 0])
        text = torch.zeros(len(prompts), L, self.model.cfg.text_dim, device=self.device)
        mask = torch.zeros(len(prompts), L, dtype=torch.bool, device=self.device)
        for i, (e, mk) in enumerate(prompts):
            n = e.shape[0]
            text[i, :n], mask[i, :n] = e, mk
        return text, mask

    def _check_prompt(self, text: torch.Tensor, text_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        D = self.model.cfg.text_dim
        if text.ndim != 2 or text.shape[1] != D:
            raise ShapeError(f"prompt embedding must be [tokens, {D}], got {list(text.shape)}")
        if tuple(text_mask.shape) != (text.shape[0],) or text_mask.dtype != torch.bool or not bool(text_mask.any()):
            raise ShapeError(f"prompt mask must be bool [{text.shape[0]}] with at least one True, "
                             f"got {text_mask.dtype} {list(text_mask.shape)}")
        return text.to(self.device, torch.float32), text_mask.to(self.device)

    def _get(self, stream_id: int) -> _Stream:
        try:
            return self._streams[stream_id]
        except KeyError:
            raise ConfigError(f"no stream with id {stream_id}; live streams: {sorted(self._streams)}") from None
