"""`streamdit eval-v2v`: video-to-video on held-out real play, structure kept and prompt applied (issue 20).

A thin wrapper over runtime.evaluation.v2v: it writes OUT/v2v.json, OUT/v2v.md (the table) and
OUT/v2v_contact_sheet.png (source, then each strength, under the night prompt).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`


@app.command("eval-v2v")
def evaluate_v2v(
    checkpoint: str = typer.Option("default", "--checkpoint", help="Checkpoint directory or shipped name (default: the shipped default model)."),
    data: Path = typer.Option(Path("data/crafter72"), "--data", help="Crafter capture at the model's frame size; its held-out episodes are the sources (make it with `streamdit data crafter --episodes 40 --size 72 --out data/crafter72`)."),
    out: Path = typer.Option(Path("out/v2v"), "--out", help="Folder for v2v.json, v2v.md and v2v_contact_sheet.png."),
    strengths: str = typer.Option("0.25,0.5,0.75", "--strengths", help="Strengths in [0, 1], comma separated."),
    prompt: Optional[list[str]] = typer.Option(None, "--prompt", help="Prompts to restyle with (repeatable); default the base prompt and 'it is night'."),
    frames: int = typer.Option(64, "--frames", min=8, help="Source frames per held-out clip (a multiple of the frames per chunk)."),
    clips: int = typer.Option(4, "--clips", min=2, help="Held-out episodes used, one clip each."),
    seed: int = typer.Option(0, "--seed", help="Noise seed (clip i uses seed + i)."),
) -> None:
    """Restyle held-out real Crafter clips at each strength and report PSNR/SSIM to the source and to an unrelated
    real frame, how well the output's scroll follows the source's (px/frame), and the brightness change."""
    from runtime.backends.onnx_parity import base_prompt
    from runtime.checkpoints import resolve
    from runtime.evaluation.real_play import heldout_shards
    from runtime.evaluation.v2v import NIGHT, clips_from, contact_sheet, markdown, v2v_table
    from runtime.model.checkpoint import write_bytes_atomic, write_json_atomic
    from runtime.pipeline import StreamDiTPipeline
    from sdk.errors import ConfigError

    try:
        levels = [float(s) for s in strengths.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--strengths {strengths!r}: write numbers in [0, 1], comma separated, e.g. 0.25,0.5") from None
    if not levels or any(not 0 <= s <= 1 for s in levels):
        raise ConfigError(f"--strengths {strengths!r}: each strength is in [0, 1] (0 = the source, 1 = text-only)")
    t0 = time.time()
    path = resolve(checkpoint)
    pipe = StreamDiTPipeline.from_checkpoint(path)
    prompts = list(prompt or [base_prompt(path), NIGHT])
    shards = heldout_shards(data)[:clips]
    if len(shards) < 2:
        raise ConfigError(f"{data} has {len(shards)} held-out episode(s); eval-v2v needs two (capture more episodes)")
    sources = clips_from([s.frames() for s in shards], frames)
    typer.echo(f"restyling {len(sources)} held-out clips of {frames} frames ({', '.join(s.name for s in shards)}) "
               f"at strengths {', '.join(f'{s:g}' for s in levels)}")
    rows = v2v_table(pipe, sources, strengths=levels, prompts=prompts, seed=seed)
    md = markdown(rows)
    sheet = contact_sheet(pipe, sources[0], prompts[-1], levels, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    import cv2

    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    write_bytes_atomic(out / "v2v_contact_sheet.png", png.tobytes())
    cmd = (f"streamdit eval-v2v --checkpoint {checkpoint} --data {data} --strengths {strengths} --frames {frames} "
           f"--clips {clips} --seed {seed}" + "".join(f" --prompt {p!r}" for p in prompt or ()))
    write_json_atomic(out / "v2v.json", {"command": cmd, "checkpoint": checkpoint, "clips": [s.name for s in shards],
                                         "frames": frames, "rows": rows, "seconds": round(time.time() - t0, 1)})
    write_bytes_atomic(out / "v2v.md", (md + "\n").encode())
    typer.echo(md)
    typer.echo(f"wrote {out}/v2v.json, v2v.md, v2v_contact_sheet.png in {time.time() - t0:.0f} s")
