"""Shipped checkpoints (safetensors + JSON config, each under 25 MB), found by name."""

from __future__ import annotations

from pathlib import Path

from sdk.errors import CheckpointError

ROOT = Path(__file__).resolve().parent
DEFAULT_ORDER = ("default", "toy")  # `generate` without --checkpoint takes the first that exists


def available() -> list[str]:
    """Names of the shipped StreamDiT checkpoints (directories with a DiT's model.safetensors)."""
    return sorted(p.name for p in ROOT.iterdir() if (p / "config.json").exists() and (p / "model.safetensors").exists())


def resolve(name_or_path: str | Path | None) -> Path:
    """A checkpoint directory from a path or a shipped name; None gives the default checkpoint."""
    if name_or_path is None:
        for name in DEFAULT_ORDER:
            if name in available():
                return ROOT / name
        raise CheckpointError(f"no shipped checkpoint found under {ROOT}; pass --checkpoint DIR")
    path = Path(name_or_path)
    if path.exists():
        return path
    if str(name_or_path) in available():
        return ROOT / str(name_or_path)
    raise CheckpointError(f"checkpoint {name_or_path!s} is neither a directory nor a shipped name "
                          f"(shipped: {available()})")


def default_teacher() -> str | None:
    """The shipped teacher's name ("teacher") when it is shipped, else None (then callers use the default)."""
    return "teacher" if "teacher" in available() else None


def shipped_classifier(size: int) -> Path | None:
    """The shipped evaluation clip classifier for frames of `size` x `size` pixels, or None when none is.

    Classifier directories hold classifier.safetensors and a config.json whose "size" is the frame side
    they were trained at (runtime.evaluation.classifier). When several match, the first name in sort
    order wins ("crafter_classifier" before "crafter_classifier72").
    """
    import json

    for p in sorted(ROOT.iterdir()):
        cfg = p / "config.json"
        if (p / "classifier.safetensors").exists() and cfg.exists():
            try:
                if int(json.loads(cfg.read_text()).get("size", -1)) == int(size):
                    return p
            except (ValueError, TypeError, json.JSONDecodeError):
                continue  # a damaged shipped config: the loader names it if it is ever asked for
    return None
