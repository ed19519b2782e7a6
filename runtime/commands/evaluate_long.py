"""`streamdit eval --minutes M`: a long steered stream, measured per minute and per event type (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def long_stream(checkpoint: Path, size: int, data: Path, classifier: Path | None, minutes: float, event_every: float,
                pace: bool, seed: int, out: Path, compile_mode: str = "auto") -> None:
    """Stream `checkpoint` (frames of `size` px) for `minutes` minutes and write out/long_stream.json and out/long_stream.md.

    The classifier is `classifier`, else the shipped one of the checkpoint's frame size; it is not trained here
    (run `streamdit eval` without --minutes once to train one). Raises ConfigError when there is none.
    """
    from runtime.checkpoints import shipped_classifier
    from runtime.evaluation.classifier import load_classifier
    from runtime.evaluation.long_stream import long_stream_report
    from runtime.model.checkpoint import write_bytes_atomic, write_json_atomic
    from runtime.pipeline import StreamDiTPipeline
    from sdk.errors import ConfigError

    pipe = StreamDiTPipeline.from_checkpoint(checkpoint)
    path = classifier or shipped_classifier(size)
    if path is None or not Path(path).exists():
        raise ConfigError(f"no clip classifier for {checkpoint} ({path or 'none shipped for its frame size'}); pass "
                          f"--classifier DIR, or run `streamdit eval` without --minutes once to train one")
    model_c = load_classifier(path)
    typer.echo(f"streaming {checkpoint} for {minutes:g} min ({'paced' if pace else 'unpaced'}), an event every "
               f"{event_every:g} s of video; classifier {path}, real play {data} (held-out episodes)")
    rep = long_stream_report(pipe, model_c, str(data), minutes, every_s=event_every, pace=pace, seed=seed,
                             compile_mode=compile_mode)
    rep["command"] = (f"streamdit eval --checkpoint {checkpoint} --data {data} --classifier {path} --minutes {minutes:g} "
                      f"--event-every {event_every:g} {'--pace' if pace else '--no-pace'} --seed {seed} --compile {compile_mode}")
    md = rep.pop("markdown_minutes") + "\n" + rep.pop("markdown_events")
    typer.echo(json.dumps(rep["stream"]))
    typer.echo("\n" + md)
    write_json_atomic(out / "long_stream.json", rep)
    write_bytes_atomic(out / "long_stream.md", md.encode())
    typer.echo(f"wrote {out / 'long_stream.json'}, {out / 'long_stream.md'}")
