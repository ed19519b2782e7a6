"""The shipped Crafter prompt map covers the event vocabulary and parses with the runtime's parser."""

from __future__ import annotations

import tomllib

from runtime.serving.prompt_map import PromptMap
from runtime.serving.prompt_maps import default_crafter_prompt_map
from runtime.data.events import EVENTS, caption_for


def test_every_event_type_has_a_rule_with_its_caption_template() -> None:
    text = default_crafter_prompt_map()
    pm = PromptMap.parse(text, fps=16.0, frames_per_chunk=2)
    assert pm.base.strip()
    assert set(pm.rules) == set(EVENTS)
    for event_type, spec in EVENTS.items():
        rule = pm.rules[event_type]
        assert rule.template == spec.template
        assert rule.duration_chunks is not None and rule.duration_chunks >= 1
        assert rule.priority == spec.priority
        # the runtime renders the same caption the model was trained on
        change = pm.change_for_event(1, event_type, dict(spec.defaults), max_chars=400)
        assert change.text == caption_for(event_type)
    raw = tomllib.loads(text)["events"]
    states = [t for t, s in EVENTS.items() if s.kind == "state"]
    moments = [t for t, s in EVENTS.items() if s.kind == "moment"]
    assert all(raw[t]["duration_seconds"] > raw[m]["duration_seconds"] for t in states for m in moments)
