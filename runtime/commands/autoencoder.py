"""Autoencoder commands: `streamdit train-ae`, `streamdit eval-ae` and `streamdit encode-latents`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from runtime.commands.choices import TemporalFactor
from sdk.errors import ConfigError

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _widths(text: str) -> list[int]:
    try:
        return [int(w) for w in text.split(",")]
    except ValueError:
        raise ConfigError(f"--widths must be comma-separated integers such as 32,64,128,128; got {text!r}") from None


@app.command("train-ae")
def train_ae(
    data: Path = typer.Option(..., "--data", help="Capture directory from `streamdit data crafter`."),
    out: Path = typer.Option(..., "--out", help="Run directory = autoencoder checkpoint (resumes from it)."),
    size: int = typer.Option(64, "--size", min=8, help="Training resolution in pixels (capture size or a divisor)."),
    steps: int = typer.Option(4000, "--steps", min=1, help="Total optimizer steps."),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Stop after this many minutes."),
    temporal_factor: TemporalFactor = typer.Option(TemporalFactor.one, "--temporal-factor", help="Video frames per latent frame."),
    latent_channels: int = typer.Option(8, "--latent-channels", min=1, help="Latent channels."),
    widths: str = typer.Option("32,64,128,128", "--widths", help="Channels per level, full resolution first."),
    latent_noise: float = typer.Option(0.1, "--latent-noise", min=0.0, help="Decoder input noise (x latent std)."),
    batch_frames: int = typer.Option(32, "--batch-frames", min=1, help="Video frames per step."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (AdamW, warmup then cosine)."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch threads (the machine is shared: keep 1)."),
    seed: int = typer.Option(0, "--seed"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Autoencoder checkpoint to start a new run "
                                             "from (e.g. runtime/checkpoints/crafter_ae to fine-tune at another "
                                             "--size); same widths and channels. Ignored when --out resumes."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train the convolutional autoencoder on Crafter clips; print held-out PSNR and decode ms per frame."""
    from runtime.training.ae_trainer import AETrainConfig, AETrainer

    _threads(threads)
    cfg = AETrainConfig(data=str(data), out=str(out), size=size, temporal_factor=int(temporal_factor.value),
                        latent_channels=latent_channels, widths=_widths(widths), latent_noise=latent_noise,
                        steps=steps, max_minutes=max_minutes, batch_frames=batch_frames, lr=lr, seed=seed,
                        init_from=str(init_from) if init_from else None)
    trainer = AETrainer(cfg)
    n = sum(p.numel() for p in trainer.ae.parameters())
    typer.echo(f"autoencoder: {n / 1e6:.2f} M parameters, temporal factor {temporal_factor.value}; "
               f"{trainer.train.frames} train frames, {trainer.heldout.frames} held-out frames; "
               f"starting at step {trainer.step}")
    result = trainer.run(progress=progress)
    _print_scores(result["heldout"], result["decode_ms_per_frame"])
    typer.echo(f"step {result['step']}, {result['minutes']:.1f} min; checkpoint {out}")


def _print_scores(heldout: dict, timing: dict) -> None:
    typer.echo(f"held-out PSNR: {heldout['psnr_db']:.2f} dB per frame (pooled {heldout['psnr_pooled_db']:.2f} dB)"
               f" over {heldout['frames']} frames")
    typer.echo(f"decode: {timing['best']:.2f} ms per video frame (fp32 {timing['fp32']:.2f}, bf16 autocast "
               f"{timing['bf16']:.2f}; {timing['threads']} thread(s)); budget at 16 FPS: 12.5 ms (20% of 62.5)")


@app.command("eval-ae")
def eval_ae(
    ae: Path = typer.Option(..., "--ae", help="Autoencoder checkpoint directory."),
    data: Path = typer.Option(..., "--data", help="Capture directory; its held-out split is scored."),
    frames: int = typer.Option(512, "--frames", min=1, help="Held-out frames to score."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch threads for the timing."),
    bf16: bool = typer.Option(True, "--bf16/--fp32", help="Reconstruct under bf16 autocast."),
) -> None:
    """Score an autoencoder: held-out PSNR (dB) and decode time per video frame (ms)."""
    from runtime.model.ae_checkpoint import load_autoencoder, read_autoencoder_config
    from runtime.data.frames import FrameBank
    from runtime.evaluation.autoencoder import decode_ms_per_frame, evaluate, shift_residual

    _threads(threads)
    model = load_autoencoder(ae)
    run = read_autoencoder_config(ae).get("training", {}).get("run", {})
    size, heldout_fraction = model.cfg.image_size, float(run.get("heldout_fraction", 0.1))
    bank = FrameBank(data, size, model.temporal_factor, "heldout", heldout_fraction)
    scores = evaluate(model, bank.evenly(frames), bf16)
    _print_scores(scores, decode_ms_per_frame(model, size))
    if model.temporal_factor == 1:
        r = shift_residual(model, data, size, heldout_fraction)
        typer.echo(f"scroll as a latent shift: residual ratio {r['ratio']:.3f} over {r['moves']} held-out one-tile "
                   f"moves ({r['tile_px']} px tiles, {r['cell_px']} px latent cells; 0 = an exact one-cell shift, "
                   "1 = shifting does not help)")


@app.command("encode-latents")
def encode_latents_cmd(
    ae: Path = typer.Option(..., "--ae", help="Autoencoder checkpoint directory, e.g. runtime/checkpoints/crafter_ae."),
    data: Path = typer.Option(..., "--data", help="Capture directory from `streamdit data crafter`."),
    out: Path = typer.Option(..., "--out", help="Latent directory (resumes: complete shards are kept)."),
    clip_frames: int = typer.Option(16, "--clip-frames", min=1, help="Caption window in video frames, centred on "
                                    "each latent frame (16 = the capture's windows)."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch threads."),
    bf16: bool = typer.Option(True, "--bf16/--fp32", help="Encode under bf16 autocast (faster on CPU)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Encode every episode of a capture once into latent shards with per-latent-frame captions."""
    from runtime.training.latents import encode_latents

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _threads(threads)
    m = encode_latents(ae, data, out, clip_frames=clip_frames, bf16=bf16, progress=progress)
    typer.echo(f"{out}: {m['episodes']} episodes, {m['latent_frames']} latent frames of "
               f"[{m['latent_channels']}, {m['latent_size'][0]}, {m['latent_size'][1]}] (temporal factor "
               f"{m['temporal_factor']}); encoded {m['encoded_now']} episodes now")
