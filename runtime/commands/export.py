"""`streamdit export ...`: the model in other formats. `export onnx` is a thin wrapper over
runtime.backends.onnx_export; only this module prints. `runtime/cli.py` registers `app` as the `export` group."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from runtime.commands.group import CommandGroup

app = typer.Typer(help="Export a checkpoint for other runtimes (ONNX Runtime, TensorRT, engines' inference).",
                  no_args_is_help=True, add_completion=False, cls=CommandGroup)

STAGES = ("load", "trace", "check", "parity", "int8")


@app.callback()
def _export() -> None:
    """Export a checkpoint for other runtimes (ONNX Runtime, TensorRT, engines' inference)."""


@app.command("onnx")
def onnx(
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Checkpoint directory or shipped name (default: the shipped default model)."),
    out: Path = typer.Option(..., "--out", help="Directory to write (dit.onnx, decoder.onnx, encoder.onnx, config.json, manifest.json); replaced only when every check passed."),
    int8: bool = typer.Option(False, "--int8", help="Also write dit_int8.onnx (dynamically quantized int8 MatMuls) with its measured errors; `serve --int8` runs it."),
) -> None:
    """Export the DiT velocity model (dynamic batch) and the autoencoder's decoder and encoder to ONNX, check them
    with onnx.checker, and compare them with torch on real buffers before reporting success (docs/backends.md)."""
    from tqdm import tqdm

    from runtime.backends.onnx_export import export_onnx
    from runtime.checkpoints import resolve

    directory = resolve(checkpoint)
    stages = [s for s in STAGES if int8 or s != "int8"]
    with tqdm(total=len(stages), unit="stage", desc="export onnx") as bar:
        def on_stage(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(stages.index(name) - bar.n)

        report = export_onnx(directory, out, int8=int8, on_stage=on_stage)
        bar.update(len(stages) - bar.n)
    p = report.parity
    psnr = p["decoder_psnr_db"]
    typer.echo(f"wrote {out} from {directory} in {report.seconds:.0f} s: "
               + ", ".join(f"{name} ({size / 1e6:.1f} MB)" for name, size in sorted(report.files.items())
                           if name.endswith(".onnx")))
    typer.echo(f"parity with torch float32 on {p['buffers']['calls']} real buffers (batch {p['buffers']['batch']}): "
               f"velocity max abs diff {p['velocity_max_abs_diff']:.2g} (<= 1e-3), decoder PSNR "
               + ("identical" if psnr is None else f"{psnr:.1f} dB") + " (>= 50 dB), encoder max abs diff "
               f"{p['encoder_max_abs_diff']:.2g}")
    if int8:
        q = p["int8"]
        s = q["stream_psnr_db_vs_torch_fp32"]
        typer.echo(f"int8: velocity mean abs diff {q['velocity_mean_abs_diff']:.3g} (torch bf16: "
                   f"{q['torch_bf16_velocity_mean_abs_diff']:.3g}); {q['stream_frames']}-frame stream PSNR vs torch "
                   f"float32: int8 {_db(s['onnxruntime_int8'])}, torch bf16 {_db(s['torch_bf16'])}")


def _db(v: float | None) -> str:
    return "identical" if v is None else f"{v:.1f} dB"
