"""Recordings of a game's own footage: the format's reader and validation (docs/recording.md).

The writer is `sdk.Recorder` (sdk/recorder.py), so that a game's tooling records without the runtime.
"""
