"""`streamdit data ...`: make training data. Thin wrappers over `runtime/training/data/capture.py` and
`runtime/data/importer.py`; only this module prints. `runtime/cli.py` registers `app` as the `data` group."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from runtime.commands.group import CommandGroup

app = typer.Typer(help="Make training data: record captioned gameplay of a real game.",
                  no_args_is_help=True, add_completion=False, cls=CommandGroup)


@app.callback()
def _data() -> None:
    """Make training data: record captioned gameplay of a real game."""


@app.command("crafter")
def crafter(
    episodes: int = typer.Option(..., "--episodes", min=1, help="Episodes to record (resumes: complete "
                                 "shards in --out are kept)."),
    size: int = typer.Option(128, "--size", min=9, help="Frame side in pixels (64 or 128 for the default "
                             "model)."),
    out: Path = typer.Option(..., "--out", help="The recording to write (docs/recording.md): one shard per "
                             "episode, for `streamdit data import` or `streamdit encode-latents`."),
    seed: int = typer.Option(0, "--seed", help="Base seed; episode i uses seeds derived from (seed, i)."),
    max_steps: int = typer.Option(1000, "--max-steps", min=2, help="Steps per episode at most (an episode "
                                  "also ends when the player dies)."),
    window: int = typer.Option(16, "--window", min=2, help="Frames per caption window (stride window/2)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Record Crafter played by a scripted agent as a recording: the captioner's events per step and its
    window captions (the shipped Crafter vocabulary captions it on import)."""
    from runtime.training.data.capture import capture_crafter

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    summary = capture_crafter(episodes, size, out, seed=seed, max_steps=max_steps, window=window,
                              progress=progress)
    windows = sum(summary.caption_histogram.values())
    typer.echo(f"{summary.root}: {summary.episodes} episodes, {summary.frames} frames of {size}x{size}, "
               f"{windows} windows, {len(summary.caption_histogram)} distinct captions")
    if summary.captured:
        typer.echo(f"recorded {summary.captured} episodes in {summary.seconds:.1f} s "
                   f"({summary.frames_per_second:.0f} frames/s)")
    else:
        typer.echo("nothing to record: every shard was already complete")
    typer.echo("top captions:")
    for caption, n in list(summary.caption_histogram.items())[:8]:
        typer.echo(f"  {n:6d} ({100 * n / max(windows, 1):4.1f}%)  {caption}")
    from runtime.data.recording import content_fingerprint

    # the same arguments give the same bytes on any machine: docs/results.md names the capture it measured on
    typer.echo(f"content fingerprint: {content_fingerprint(summary.root)} (streamdit eval writes it to eval.json)")


@app.command("import")
def import_(
    recording: Path = typer.Argument(..., help="The recording folder (docs/recording.md): shards of frames.rgb, "
                                     "events.jsonl, manifest.json."),
    vocab: Path = typer.Option(..., "--vocab", help="The vocabulary TOML (a prompt map) that captions the events."),
    out: Path = typer.Option(..., "--out", help="Output folder of captioned latent windows (resumes: complete "
                             "shards are kept)."),
    ae: Path = typer.Option(..., "--ae", help="Autoencoder checkpoint directory that encodes the frames (its "
                            "frame size must be the recording's), e.g. runtime/checkpoints/crafter_ae72."),
    window: int = typer.Option(16, "--window", min=1, help="Caption window in video frames, centred on each "
                               "latent frame."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Turn a recording into training data: the vocabulary's caption and the latents of every window."""
    from runtime.data.importer import import_recording

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    m = import_recording(recording, vocab, out, ae_dir=ae, window=window, progress=progress)
    for why in m["skipped"]:
        typer.echo(f"skipped {why}", err=True)
    typer.echo(f"{out}: {m['episodes']} shards, {m['latent_frames']} latent frames "
               f"({m['imported_now']} shards imported now, {len(m['skipped'])} skipped)")
