"""The one exception tree of the project (STYLE.md, rule 8).

Both the SDK and the runtime raise these. Every message names the value that was wrong, the allowed
range or form, and what to do about it. Library code never prints, never exits, and never signals
failure by returning None.
"""

from __future__ import annotations


class StreamDiTError(Exception):
    """Base class of every error the StreamDiT SDK and runtime raise on purpose."""


class ConfigError(StreamDiTError, ValueError):
    """A configuration value is invalid: a partition scheme, a model size, a CLI option."""


class ShapeError(StreamDiTError, ValueError):
    """A tensor or array has the wrong shape or dtype; the message gives the expected and actual shape."""


class PromptError(StreamDiTError, ValueError):
    """A prompt is empty, too long, or otherwise unusable."""


class CheckpointError(StreamDiTError):
    """A checkpoint is missing, corrupted, or its config does not match its weights.

    Raised before anything is overwritten or any model state is changed.
    """


class DataError(StreamDiTError):
    """A data set or one of its shards is missing or corrupted."""
