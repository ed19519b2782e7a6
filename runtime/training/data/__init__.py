"""Gameplay data for the default model: Crafter capture, captions and the clip reader.

The event vocabulary they caption with is `runtime.data.events` (it imports neither torch nor crafter, so
games, prompt maps, cutscenes and evaluation use it alone). These modules import crafter lazily, only where a
live environment is needed.
"""
