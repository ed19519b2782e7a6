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
        assert rule.template == spec.template and rule.group == spec.group
        assert rule.duration_chunks is not None and rule.duration_chunks >= 1
        assert rule.priority == spec.priority
        # the runtime renders the same caption the model was trained on
        change = pm.change_for_event(1, event_type, dict(spec.defaults), max_chars=400)
        assert change.text == caption_for(event_type)
    raw = tomllib.loads(text)["events"]
    states = [t for t, s in EVENTS.items() if s.kind == "state"]
    moments = [t for t, s in EVENTS.items() if s.kind == "moment"]
    assert all(raw[t]["duration_seconds"] > raw[m]["duration_seconds"] for t in states for m in moments)


def test_composed_prompts_are_the_captioners_window_captions() -> None:
    """An actor, a scene and a time event in effect together give the caption the captioner writes for a
    window holding the three (runtime/training/data/captioner.py), not the last event's clause alone."""
    from runtime.training.data.captioner import Event, caption_window

    pm = PromptMap.parse(default_crafter_prompt_map(), fps=16.0, frames_per_chunk=2)
    assert pm.groups == ("actor", "scene", "time")
    s = pm.schedule()
    picks = [("player_moves_left", {"terrain": "grass"}), ("zombie_appears", {}), ("night_falls", {})]
    for i, (t, payload) in enumerate(reversed(picks), 1):  # pushed in any order
        s.apply(pm.change_for_event(i, t, {**EVENTS[t].defaults, **payload}, max_chars=400), 0)
    (text, weight), = s.at(0).spec
    window = [[Event(t, {**EVENTS[t].defaults, **payload}, 0) for t, payload in picks]] * 16
    assert weight == 1.0 and text == caption_window(window)
    assert text == "the player walks left across the grass, a zombie approaches, night falls"


def test_the_shipped_map_guides_night_falls_and_unguided_drops_only_the_guidance() -> None:
    from runtime.evaluation.event_probe import unguided
    from runtime.serving.prompt_maps import default_crafter_prompt_map

    text = default_crafter_prompt_map()
    pm = PromptMap.parse(text, fps=16.0, frames_per_chunk=2)
    assert [t for t, r in pm.rules.items() if r.guidance] == ["night_falls"]
    assert (pm.rules["night_falls"].guidance, pm.rules["night_falls"].guidance_chunks) == (1.0, 8)
    plain = PromptMap.parse(unguided(text), fps=16.0, frames_per_chunk=2)
    assert not any(r.guidance for r in plain.rules.values())
    assert {t: (r.template, r.priority, r.group) for t, r in plain.rules.items()} == \
        {t: (r.template, r.priority, r.group) for t, r in pm.rules.items()}
