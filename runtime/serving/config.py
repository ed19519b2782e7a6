"""Settings of the serving runtime: limits, flow control, pacing, auth. Defaults are the safe ones."""

from __future__ import annotations

from dataclasses import dataclass

from sdk.errors import ConfigError
from sdk.protocol import messages as m


@dataclass
class ServeConfig:
    """What `streamdit serve` enforces (DESIGN.md section 6, "safe defaults").

    Every limit gives the client an Error whose code is in docs/protocol.md section 7; the table of every
    limit, these and the protocol's fixed ones, is sdk.protocol.limits.LIMITS.
    """

    max_sessions: int = 8  # sessions served at once (each is one stream in the batched DiT step)
    max_message_bytes: int = 1 << 20  # largest client message, bytes (1 MiB; frames come the other way)
    max_events_per_second: float = 20.0  # events + prompt changes per session; a burst of the same size
    max_prompt_chars: int = 400  # longest prompt text, characters, after filling a template
    default_credits: int = m.DEFAULT_CREDITS  # frames in flight per client when it asks for none
    max_credits: int = 64  # credits a client may hold
    max_queued_frames: int = 4  # frames waiting for credit per session; beyond: drop oldest, count
    max_pending_changes: int = 64  # events waiting for the next chunk boundary, per session
    resume_window_s: float = 30.0  # seconds a disconnected session stays resumable
    # A session whose client neither reads nor credits for this long while frames wait for it is released
    # (Closed{code: "idle"}, resumable); a frozen client is also found by heartbeats / gRPC keepalive (~4 s).
    idle_timeout_s: float = 10.0
    # Client messages per second per connection (a burst of the same size); the excess is dropped before it is
    # decoded, so one client's flood costs the others little. Legitimate clients send tens per second.
    max_messages_per_second: float = 200.0
    max_handshakes_per_second: float = 2.0  # per connection, burst of 4: handshake churn costs the engine streams
    stats_interval_s: float = 1.0  # seconds between Stats messages
    decode_queue_chunks: int = 32  # chunks waiting for the decoder (all sessions); beyond: drop oldest
    pace: bool = True  # step no faster than the model's frame rate (real time); False = as fast as possible
    compile: str = "auto"  # torch.compile the DiT: "auto" (when a C++ compiler is there), "on", "off"; see runtime.model.compiled
    warm_up: bool = True  # run a throwaway stream at start so the first client does not pay for kernel set-up
    auth_token: str | None = None  # when set, every handshake must carry it
    model_name: str = "default"  # the name of a single served pipeline; ServingRuntime({name: pipeline}) names its own
    chunk_size: int | None = None  # c override (latent frames per chunk); None = the checkpoint's
    micro_steps: int | None = None  # s override; None = the checkpoint's
    prompt_map: str = ""  # default prompt map (TOML) of sessions that send none; "" = none
    prompt_map_source: str = ""  # where it came from: "checkpoint:NAME", "file:PATH" (runtime.serving.prompt_maps)

    def __post_init__(self) -> None:
        for name in ("max_sessions", "max_message_bytes", "max_prompt_chars", "default_credits", "max_credits",
                     "max_queued_frames", "max_pending_changes", "decode_queue_chunks"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"serve config {name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_events_per_second", "max_messages_per_second", "max_handshakes_per_second",
                     "idle_timeout_s"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"serve config {name} must be > 0, got {getattr(self, name)}")
        if self.default_credits > self.max_credits:
            raise ConfigError(f"default_credits ({self.default_credits}) must be <= max_credits ({self.max_credits})")

    def limits(self) -> m.Limits:
        return m.Limits(max_message_bytes=self.max_message_bytes, max_events_per_second=self.max_events_per_second,
                        max_prompt_chars=self.max_prompt_chars, max_sessions=self.max_sessions,
                        max_credits=self.max_credits)
