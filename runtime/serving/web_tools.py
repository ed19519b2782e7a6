"""The viewer page's files and its helper channel, ws://HOST:PORT/v1/tools (runtime.serving.ws_server).

The helper channel is not part of the protocol: it answers the viewer page with JSON text messages, so that the
page needs no TOML parser of its own and checks cutscenes with the very parser `streamdit cutscene` uses.

    {"type": "prompt_map", "auth_token": "", "text": ""}
        -> {"type": "prompt_map", "source", "sha256", "text", "base", "groups", "events": [{"type", "prompt",
            "fields", "defaults", "priority", "duration_chunks", "transition_steps", "group", "guidance",
            "guidance_chunks"}]}
        text "" describes the runtime's default prompt map (the one a session that sends none gets); an optional
        "model" names the served model whose frame rate and chunk length parse it ("" = the default model)
    {"type": "models", "auth_token": ""}
        -> {"type": "models", "default", "models": [{"name", "width", "height", "fps", "frames_per_chunk",
            "buffer_frames", "backend"}]}   (the served models, the default first: a session's settings.model)
    {"type": "cutscene", "auth_token": "", "toml": "..."}
        -> {"type": "cutscene", "seconds", "prompt", "prompt_map", "cues": [{"at", "event", "payload", "prompt",
            "transition_steps", "weight", "text"}]}   (runtime.cutscene.parse_cutscene; text: the prompt it gives)
    anything wrong -> {"type": "error", "code", "message"} (the message names the problem and the fix)

The same auth token, auth pacing and message size limit as the protocol apply; requests are rate-limited per
connection (TOOLS_PER_SECOND).
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from typing import Any

from runtime.serving.prompt_map import PromptMap
from runtime.serving.prompt_maps import prompt_map_sha256
from runtime.serving.session import TokenBucket
from sdk.errors import ConfigError, ServerError, StreamDiTError
from sdk.protocol import messages as m
from sdk.protocol.limits import shown

TOOLS_PER_SECOND = 5.0  # helper requests per second per connection (a burst of twice that)
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".txt": "text/plain; charset=utf-8"}


def static_file(path: str) -> tuple[bytes, str] | None:
    """The viewer file at URL path `path` ("/" = index.html) -> (bytes, content type); None when there is none.
    Only the files of runtime/serving/web/ are served, by exact name (no other path reaches the disk)."""
    name = "index.html" if path in ("", "/") else path.lstrip("/")
    web = resources.files("runtime.serving") / "web"
    parts = name.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    node = web
    for p in parts:
        node = node / p
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in CONTENT_TYPES or not node.is_file():
        return None
    return node.read_bytes(), CONTENT_TYPES[suffix]


def describe_prompt_map(text: str, fps: float, frames_per_chunk: int) -> dict[str, Any]:
    """A prompt map's rules as the viewer shows them: one button per event type, one box per template field,
    filled with the event vocabulary's defaults. Raises InvalidArgumentError (a bad map)."""
    from runtime.cutscene import event_defaults

    pm = PromptMap.parse(text, fps=fps, frames_per_chunk=frames_per_chunk)
    events = []
    for name, rule in pm.rules.items():
        defaults = event_defaults(name)
        events.append({"type": name, "prompt": rule.template, "fields": list(rule.fields),
                       "defaults": {k: str(defaults[k]) for k in rule.fields if k in defaults},
                       "priority": rule.priority, "duration_chunks": rule.duration_chunks,
                       "transition_steps": rule.transition_steps, "group": rule.group,
                       "guidance": rule.guidance, "guidance_chunks": rule.guidance_chunks})
    return {"base": pm.base, "groups": list(pm.groups), "events": events}


def describe_cutscene(toml_text: str) -> dict[str, Any]:
    """Check a cutscene's TOML text with runtime.cutscene.parse_cutscene -> what the page plays: every cue with its
    payload (defaults filled in) and the prompt it gives. Raises ConfigError naming the cue and key at fault."""
    from runtime.cutscene import parse_cutscene

    scene = parse_cutscene(toml_text, where="from the viewer", base_dir=None)
    pm = PromptMap.parse(scene.prompt_map, fps=16.0, frames_per_chunk=1)
    cues = []
    for c in scene.cues:
        text = pm.change_for_event(0, c.event, c.payload, max_chars=10**6).text if c.event else c.prompt
        cues.append({"at": c.at, "event": c.event, "payload": c.payload, "prompt": c.prompt,
                     "transition_steps": c.transition_steps, "weight": c.weight, "text": text})
    return {"seconds": scene.seconds, "prompt": scene.prompt, "prompt_map": scene.prompt_map, "cues": cues}


class WebTools:
    """Answers the viewer's helper requests on one WebSocket (see the module docstring)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    async def serve(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        addr = ws.remote_address or ("", 0)
        peer = str(addr[0])
        bucket = TokenBucket(TOOLS_PER_SECOND, 2 * TOOLS_PER_SECOND)
        loop = asyncio.get_running_loop()
        try:
            async for data in ws:
                if not bucket.take():
                    await ws.send(json.dumps(_error(m.RATE_LIMITED, f"more than {TOOLS_PER_SECOND:g} viewer "
                                                    f"requests per second; wait a moment")))
                    await asyncio.sleep(1.0 / TOOLS_PER_SECOND)
                    continue
                reply, refused = await self._answer(data, peer, loop)
                await ws.send(json.dumps(reply))
                if refused:
                    await ws.close(1008, "auth_failed")
                    return
        except ConnectionClosed:
            return

    async def _answer(self, data: Any, peer: str, loop: asyncio.AbstractEventLoop) -> tuple[dict[str, Any], bool]:
        limit = self.runtime.config.max_message_bytes
        if len(data) > limit:
            return _error(m.MESSAGE_TOO_LARGE, f"a {len(data)}-byte request exceeds the runtime's limit of {limit} "
                          f"bytes (limits.max_message_bytes)"), False
        try:
            req = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            return _error(m.BAD_MESSAGE, f"a viewer request must be one JSON object ({e})"), False
        if not isinstance(req, dict) or req.get("type") not in ("prompt_map", "cutscene", "models"):
            kind = req.get("type") if isinstance(req, dict) else type(req).__name__
            return _error(m.BAD_MESSAGE, f"unknown viewer request {shown(kind)}; known: 'prompt_map', "
                          f"'cutscene', 'models'"), False
        token = req.get("auth_token", "")
        if self.runtime.config.auth_token:
            delay = self.runtime.guard.reserve(peer)
            if delay > 0:
                await asyncio.sleep(delay)
                self.runtime.guard.done(peer)
            try:
                self.runtime.manager.check_auth(token if isinstance(token, str) else "")
            except StreamDiTError as e:
                self.runtime.guard.failed(peer)
                self.runtime.throttled.warning("auth", "refused a viewer request from %s: %s", shown(peer), e)
                return _error(m.AUTH_FAILED, str(e)), True
        try:
            if req["type"] == "models":
                return self._models(), False
            if req["type"] == "prompt_map":
                return await loop.run_in_executor(None, self._prompt_map, req.get("text", ""),
                                                  req.get("model", "")), False
            toml_text = req.get("toml")
            if not isinstance(toml_text, str):
                return _error(m.BAD_MESSAGE, "a cutscene request needs toml: the cutscene's TOML text"), False
            body = await loop.run_in_executor(None, describe_cutscene, toml_text)
            return {"type": "cutscene", **body}, False
        except (ConfigError, ServerError) as e:
            return _error(m.INVALID_ARGUMENT, str(e)), False

    def _models(self) -> dict[str, Any]:
        models = list(self.runtime.models.values())
        return {"type": "models", "default": self.runtime.default_model,
                "models": [{"name": i.name, "width": i.width, "height": i.height, "fps": i.fps,
                            "frames_per_chunk": i.frames_per_chunk, "buffer_frames": i.buffer_frames,
                            "backend": i.backend} for i in models]}

    def _prompt_map(self, text: Any, model: Any = "") -> dict[str, Any]:
        if not isinstance(text, str):
            raise ConfigError("prompt_map.text must be the prompt map's TOML text, or \"\" for the runtime's")
        if not isinstance(model, str):
            raise ConfigError("prompt_map.model must be a served model's name, or \"\" for the default model")
        cfg, models = self.runtime.config, self.runtime.models
        if model and model not in models:
            raise ConfigError(f"no model {shown(model)} is served here; the served models: {', '.join(models)}")
        info = models[model] if model else self.runtime.model_info
        own = bool(text.strip())
        text = text if own else cfg.prompt_map
        body = describe_prompt_map(text, info.fps, info.frames_per_chunk)
        source = "session" if own else info.prompt_map
        return {"type": "prompt_map", "source": source, "sha256": prompt_map_sha256(text) if text.strip() else "",
                "text": text, **body}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
