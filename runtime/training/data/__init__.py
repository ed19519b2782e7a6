"""Gameplay data for the default model: Crafter capture, the event vocabulary, captions and the clip reader.

`events` (the vocabulary) imports neither torch nor crafter, so games and prompt maps can use it alone.
The other modules import crafter lazily, only where a live environment is needed.
"""
