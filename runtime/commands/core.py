"""Core commands: `streamdit train` and `streamdit generate`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`


@app.command()
def train(
    config: Path = typer.Option(..., "--config", "-c", help="Training config TOML, e.g. configs/toy.toml."),
    out: Optional[Path] = typer.Option(None, help="Run directory (checkpoint/, log.jsonl); overrides the config's `out`."),
    steps: Optional[int] = typer.Option(None, help="Total optimizer steps; overrides [optim] steps."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop after this many minutes of training."),
    init_from: Optional[str] = typer.Option(None, "--init-from", help="Warm start from the weights of this checkpoint (directory or shipped name) when OUT has no checkpoint yet."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Train a StreamDiT with buffered flow matching and mixed partitioning. Resumes from OUT/checkpoint.

    Data parallel: `torchrun --nproc_per_node=2 -m runtime.cli train --config ...` (gloo on CPU, nccl on GPU).
    """
    from runtime.training.config import load_train_config
    from runtime.training.trainer import Trainer

    overrides: dict = {}
    if out is not None:
        overrides["out"] = str(out)
    if steps is not None:
        overrides["optim.steps"] = steps
    if max_minutes is not None:
        overrides["optim.max_minutes"] = max_minutes
    cfg = load_train_config(config, overrides)
    from runtime.checkpoints import resolve

    trainer = Trainer(cfg, init_from=resolve(init_from) if init_from else None)
    if trainer.rank == 0:
        n = sum(p.numel() for p in trainer.model.parameters())
        typer.echo(f"model: {n / 1e6:.2f} M parameters; out: {cfg.out}; starting at step {trainer.step}")
    result = trainer.run(progress=progress)
    if trainer.rank == 0:
        typer.echo(f"done: step {result.step}, loss {result.loss:.4f}, {result.seconds / 60:.1f} min, "
                   f"checkpoint {result.checkpoint}")


@app.command()
def generate(
    prompt: str = typer.Option(..., "--prompt", "-p", help="What the video shows."),
    frames: int = typer.Option(64, "--frames", "-n", min=1, help="Video frames to write."),
    out: Path = typer.Option(Path("out/video.mp4"), "--out", "-o", help="MP4 file to write."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Checkpoint directory or shipped name (default: the shipped default model)."),
    seed: int = typer.Option(0, help="Random seed of the stream."),
    switch_prompt_at: Optional[int] = typer.Option(None, "--switch-prompt-at", help="Video frame at which --prompt2 takes over."),
    prompt2: Optional[str] = typer.Option(None, "--prompt2", help="Second prompt (with --switch-prompt-at)."),
    chunk: Optional[int] = typer.Option(None, "--chunk", "-c", help="Frames per chunk c (default: the checkpoint's)."),
    micro_steps: Optional[int] = typer.Option(None, "--micro-steps", "-s", help="Micro-steps per chunk position s."),
    guidance: Optional[float] = typer.Option(None, "--guidance", help="Classifier-free guidance scale (1 = off)."),
    scale: int = typer.Option(0, help="Integer upscale of the written video (0 = auto, to at least 256 pixels)."),
    scroll: bool = typer.Option(False, "--scroll", help="Also print which way the view scrolls (Crafter frames: mean whole-frame shift and mean Farneback optical flow of the world rows, pixels per frame)."),
) -> None:
    """Stream a video from a prompt and write it as MP4 (optionally switching prompt mid-stream)."""
    from tqdm import tqdm

    from runtime.checkpoints import resolve
    from runtime.pipeline import StreamDiTPipeline
    from sdk.video_io import write_mp4

    pipe = StreamDiTPipeline.from_checkpoint(resolve(checkpoint))
    scheme = pipe.scheme(chunk, micro_steps)
    typer.echo(f"checkpoint {pipe.config.get('_dir', resolve(checkpoint))}: scheme {scheme.describe()}")
    if scroll:  # refuse a frame too small for Crafter's tile grid before generating anything
        from runtime.model.autoencoder import frame_size
        from runtime.training.data.capture import crafter_view

        crafter_view(frame_size(pipe.config)[0])
    with tqdm(total=frames, unit="frame", desc="generate") as bar:
        video = pipe.generate(prompt, frames, seed=seed, scheme=scheme, guidance_scale=guidance,
                              switch_at=switch_prompt_at, prompt2=prompt2,
                              on_chunk=lambda n: bar.update(n - bar.n))
    up = scale or max(1, -(-256 // video.shape[1]))
    write_mp4(out, video, pipe.fps, scale=up)
    typer.echo(f"wrote {out} ({len(video)} frames, {video.shape[2]}x{video.shape[1]} px, x{up} upscale, {pipe.fps:g} FPS)")
    if scroll:
        from runtime.evaluation.evaluate import scroll_measure

        m = scroll_measure(video)
        typer.echo(f"view scroll, px/frame (+x: the content moves right, +y: down): shift x {m['shift_dx']:+.3f} "
                   f"y {m['shift_dy']:+.3f}; Farneback flow x {m['flow_dx']:+.3f} y {m['flow_dy']:+.3f}")
