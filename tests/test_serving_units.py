"""Serving parts without sockets: prompt maps, the prompt schedule, embedding transitions, credits, and the
engine applying changes only at chunk boundaries."""

import time

import pytest
import torch

from runtime.model.text_encoder import HashTextEncoder
from runtime.serving.blend import PromptBlender, embed_spec, lerp_prompt
from runtime.serving.config import ServeConfig
from runtime.serving.flow import Outbox
from runtime.serving.prompt_map import Change, PromptMap, PromptSchedule, describe
from sdk.errors import ConfigError, InvalidArgumentError, PromptTooLongError, UnknownEventError
from sdk.protocol import messages as m
from serving_helpers import PROMPT_MAP, make_runtime, one_torch_thread, wait_until

FPC, FPS = 2, 16.0


def pmap(text=PROMPT_MAP):
    return PromptMap.parse(text, fps=FPS, frames_per_chunk=FPC)


# ----------------------------------------------------------------------------------- prompt maps
def test_prompt_map_parses_rules():
    p = pmap(PROMPT_MAP + '\n[events.short]\nprompt = "x"\nduration_seconds = 0.3\n')
    assert p.base == "a green field" and set(p.rules) == {"night", "boss", "slow", "short"}
    boss = p.rules["boss"]
    assert (boss.duration_chunks, boss.priority, boss.transition_steps, boss.fields) == (2, 5, 0, ("color",))
    assert p.rules["night"].duration_chunks is None
    assert p.rules["short"].duration_chunks == 3  # 0.3 s * 16 FPS / 2 frames per chunk = 2.4 -> 3 chunks
    ch = p.change_for_event(9, "boss", {"color": "red", "extra": 1}, max_chars=100)
    assert (ch.text, ch.event_id, ch.kind) == ("a red boss in the field", 9, "event")
    assert pmap('[events.e]\nprompt = "{a} {b} {{lit}}"\n').change_for_event(
        1, "e", {"a": True, "b": 2.50}, max_chars=99).text == "true 2.5 {lit}"


@pytest.mark.parametrize("text,needle", [
    ("base = [", "not valid TOML"),
    ("bas = 'x'", "unknown top-level keys ['bas']"),
    ("[events.e]\nprompt = 'x'\npriorty = 1", "unknown keys ['priorty']"),
    ("[events.e]\nduration_chunks = 2", "prompt must be a non-empty string"),
    ("[events.e]\nprompt = 'x'\nduration_chunks = 1\nduration_seconds = 1.0", "not both"),
    ("[events.e]\nprompt = 'x'\nduration_chunks = 0", "duration_chunks must be an integer >= 1"),
    ("[events.e]\nprompt = 'x'\ntransition_steps = -1", "transition_steps must be an integer >= 0"),
    ("[events.e]\nprompt = '{a.__class__}'", "plain name"),
    ("[events.e]\nprompt = '{a!r}'", "plain name"),
    ("[events.e]\nprompt = '{0}'", "plain name"),
    ("[events.e]\nprompt = 'x {'", "bad template"),
])
def test_bad_prompt_maps_name_the_problem(text, needle):
    with pytest.raises(InvalidArgumentError) as e:
        pmap(text)
    assert needle in str(e.value)


def test_event_errors():
    p = pmap()
    with pytest.raises(UnknownEventError, match=r"\[events.dragon\]"):
        p.change_for_event(1, "dragon", {}, max_chars=100)
    with pytest.raises(InvalidArgumentError, match="needs payload values \\['color'\\]"):
        p.change_for_event(1, "boss", {}, max_chars=100)
    with pytest.raises(PromptTooLongError, match="at most 10"):
        p.change_for_event(1, "boss", {"color": "red"}, max_chars=10)
    with pytest.raises(UnknownEventError, match="no prompt map"):
        PromptMap().change_for_event(1, "x", {}, max_chars=10)


def test_schedule_priorities_durations_and_base():
    p, s = pmap(), PromptSchedule("base")

    def ev(eid, kind, **payload):
        return p.change_for_event(eid, kind, payload, max_chars=100)

    assert s.at(0) == s.at(0) and s.at(0).event_id == 0 and describe(s.at(0).spec) == "base"
    s.apply(ev(1, "night"), 2)
    assert s.at(1).event_id == 0 and s.at(2).event_id == 1  # from its chunk on
    s.apply(ev(2, "boss", color="red"), 3)  # priority 5, 2 chunks
    assert [s.at(k).event_id for k in (3, 4, 5, 6)] == [2, 2, 1, 1]
    s.apply(ev(3, "boss", color="blue"), 7)
    s.apply(ev(4, "boss", color="gold"), 7)  # a newer event of a type replaces the older overlay
    d = s.at(7)
    assert d.event_id == 4 and describe(d.spec) == "a gold boss in the field"
    s.apply(Change("prompt", 5, "dusk", weight=1.0, transition_steps=2), 8)
    assert s.at(8).event_id == 4  # the overlay still decides
    assert s.at(9).event_id == 1  # boss ended: night (no duration) decides again
    s.overlays.clear()
    d = s.at(10)
    assert d.event_id == 5 and d.spec == (("dusk", 1.0),)
    s.apply(Change("prompt", 6, "rain", weight=0.25), 11)
    spec = s.at(11).spec
    assert dict(spec) == pytest.approx({"dusk": 0.75, "rain": 0.25})


GROUPED = """
base = "the player walks right across the grass"
groups = ["actor", "scene", "time"]
[events.walk_left]
group = "actor"
prompt = "the player walks left across the {terrain}"
duration_chunks = 8
priority = 20
transition_steps = 1
[events.collect_wood]
group = "actor"
prompt = "the player collects wood"
duration_chunks = 2
priority = 50
[events.cow_nearby]
group = "scene"
prompt = "a cow grazes nearby"
duration_chunks = 4
priority = 30
transition_steps = 2
[events.night_falls]
group = "time"
prompt = "night falls"
duration_chunks = 2
priority = 50
"""


def test_grouped_map_composes_one_clause_per_group_in_order():
    p = PromptMap.parse(GROUPED, fps=8.0, frames_per_chunk=2)
    assert p.groups == ("actor", "scene", "time") and p.rules["cow_nearby"].group == "scene"
    s = p.schedule()

    def ev(eid, kind, **payload):
        return p.change_for_event(eid, kind, payload, max_chars=200)

    assert describe(s.at(0).spec) == "the player walks right across the grass"
    s.apply(ev(1, "night_falls"), 1)  # a time clause joins the base prompt's actor clause
    d = s.at(1)
    assert describe(d.spec) == "the player walks right across the grass, night falls"
    assert d.event_id == 1 and d.in_effect(1) and d.transition_steps == 0
    s.apply(ev(2, "cow_nearby"), 2)
    s.apply(ev(3, "walk_left", terrain="sand"), 2)
    d = s.at(2)  # the clauses come in group order, whatever the order of the events
    assert describe(d.spec) == "the player walks left across the sand, a cow grazes nearby, night falls"
    assert d.event_id == 3 and all(d.in_effect(i) for i in (1, 2, 3)) and d.transition_steps == 1
    d = s.at(3)  # night_falls ended (2 chunks): its clause goes, blended over its own 0 steps
    assert describe(d.spec) == "the player walks left across the sand, a cow grazes nearby"
    assert not d.in_effect(1) and d.in_effect(2)
    s.apply(ev(4, "collect_wood"), 4)  # priority 50 beats the walk within the actor group only
    d = s.at(4)
    assert describe(d.spec) == "the player collects wood, a cow grazes nearby"
    assert d.in_effect(4) and not d.in_effect(3) and d.in_effect(2)
    assert describe(s.at(6).spec) == "the player walks left across the sand"  # wood (2) and cow (4) ended
    assert describe(s.at(10).spec) == "the player walks right across the grass" and s.at(10).event_id == 0
    s.apply(Change("prompt", 5, "the player stands on the sand", weight=0.5), 11)
    s.apply(ev(6, "cow_nearby"), 11)
    spec = dict(s.at(11).spec)  # a mixed base prompt: each of its texts gets the other clauses
    assert spec == pytest.approx({"the player walks right across the grass, a cow grazes nearby": 0.5,
                                  "the player stands on the sand, a cow grazes nearby": 0.5})


@pytest.mark.parametrize("text, needle", [
    (GROUPED.replace('group = "scene"\n', ""), 'add group = "actor"'),
    (GROUPED.replace('group = "scene"', 'group = "weather"'), "not one of the map's groups"),
    (GROUPED.replace('groups = ["actor", "scene", "time"]', ""), "needs a top-level groups list"),
    (GROUPED.replace('["actor", "scene", "time"]', '["actor", "actor"]'), "distinct names"),
    (GROUPED.replace('groups = ["actor", "scene", "time"]', 'groups = ["actor", "scene", "time"]\nseparator = 3'),
     "separator must be a string"),
])
def test_grouped_map_errors_name_the_rule_and_the_fix(text, needle):
    with pytest.raises(InvalidArgumentError) as e:
        PromptMap.parse(text, fps=8.0, frames_per_chunk=2)
    assert needle in str(e.value)


def test_transition_steps_when_an_overlay_ends_blend_back_out():
    p, s = pmap(), PromptSchedule("base")
    s.apply(p.change_for_event(1, "slow", {"mood": "grey"}, max_chars=99), 0)
    assert s.at(0).transition_steps == 3
    s.overlays.clear()  # as if it ended
    assert s.at(1).transition_steps == 3 and s.at(2).transition_steps == 0


def test_blender_interpolates_over_chunks():
    enc = HashTextEncoder()
    b = PromptBlender(enc, (("a red square", 1.0),))
    start = b.embedding_at(0)
    b.retarget((("a blue circle and more words", 1.0),), 4, chunk=5)
    target = embed_spec(enc, (("a blue circle and more words", 1.0),))
    for k, alpha in zip(range(5, 9), (0.25, 0.5, 0.75, 1.0)):
        emb, mask = b.embedding_at(k)
        want, _ = lerp_prompt(start, target, alpha)
        torch.testing.assert_close(emb, want)
        assert mask.sum() == target[1].sum()
    assert b.embedding_at(9) is b.embedding_at(10)  # settled: the same tensors, so no further set_prompt
    b.retarget((("x", 1.0),), 0, chunk=11)
    torch.testing.assert_close(b.embedding_at(11)[0], enc.encode_one("x")[0])
    mix = embed_spec(enc, (("a", 0.5), ("b c", 0.5)))
    assert mix[0].shape == (2, 384) and bool(mix[1].all())


# ----------------------------------------------------------------------------------- flow control
def frame(i):
    return m.Frame(frame_index=i, width=1, height=1, pixels=b"abc")


def test_credits_gate_frames_and_the_oldest_frames_are_dropped():
    woken = []
    ob = Outbox(credits=2, max_credits=5, max_frames=3)
    ob.set_notify(lambda: woken.append(1))
    for i in range(6):
        ob.put_frame(frame(i))
    assert ob.frames_dropped == 3 and ob.queue_depth == 3
    ob.put(m.Stats())
    got = ob.take()
    assert isinstance(got[0], m.Stats) and [f.frame_index for f in got[1:]] == [3, 4]  # oldest kept frames
    assert ob.take() == [] and ob.credits == 0 and not ob.has_sendable()
    ob.add_credits(100)
    assert ob.credits == 5 and [f.frame_index for f in ob.take()] == [5]
    ob.put(m.EventAck(event_id=1))
    ob.finish(m.Closed(code="shutdown"))
    ob.put_frame(frame(9))
    assert [type(x).__name__ for x in ob.take()] == ["EventAck", "Closed"] and ob.drained() and woken


def test_serve_config_refuses_nonsense():
    with pytest.raises(ConfigError, match="max_sessions"):
        ServeConfig(max_sessions=0)
    with pytest.raises(ConfigError, match="default_credits"):
        ServeConfig(default_credits=10, max_credits=4)


# ----------------------------------------------------------------------------------- the engine
def test_prompt_changes_land_only_at_chunk_boundaries():
    with one_torch_thread():
        rt = make_runtime(pace=False, warm_up=False)
        smp = rt.engine.sampler
        calls = []
        real = smp.set_prompt

        def spy(sid, text, mask):
            calls.append((smp.is_streaming(sid), smp.buffer_state(sid)[2] if smp.is_streaming(sid) else None))
            real(sid, text, mask)

        smp.set_prompt = spy
        conn = rt.connect()
        try:
            conn.handle(m.Handshake(settings=m.SessionSettings(prompt="a field", prompt_map=PROMPT_MAP, seed=1)))
            assert wait_until(lambda: conn.session.next_chunk >= 2, 10)
            for eid in range(1, 6):
                conn.handle(m.Event(event_id=eid, event_type="slow", payload={"mood": f"m{eid}"}))
                conn.handle(m.Credit(n=100))
                time.sleep(0.01)
            assert wait_until(lambda: conn.session.next_chunk >= 12, 10)
        finally:
            rt.shutdown()
        assert len(calls) >= 3  # the 3-chunk transitions set intermediate embeddings chunk by chunk
        assert all(streaming and micro == 0 for streaming, micro in calls), calls  # just after a pop


def test_wait_warm_returns_once_warm_or_false_when_stopped_first():
    import threading

    from runtime.serving.server import ServingRuntime
    from runtime.testing import tiny_pipeline

    rt = ServingRuntime(tiny_pipeline(), ServeConfig())  # not started: its engine never warms up by itself
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    assert rt.wait_warm(stop) is False and time.monotonic() - t0 < 5  # `streamdit serve` on SIGINT mid-warm-up
    rt.engine.warmed_up.set()
    assert rt.wait_warm() is True and rt.wait_warm(stop) is True  # warm wins over a set stop


# ----------------------------------------------------------------------------------- guidance against the prompt before
GUIDED = PROMPT_MAP + """
[events.dusk]
prompt = "the field at dusk"
priority = 9
guidance = 1.5
guidance_chunks = 3
"""


def test_guidance_keys_parse_with_a_default_of_one_second():
    p = pmap(GUIDED + '\n[events.dawn]\nprompt = "dawn"\nguidance = 1.0\n')
    assert (p.rules["dusk"].guidance, p.rules["dusk"].guidance_chunks) == (1.5, 3)
    assert (p.rules["dawn"].guidance, p.rules["dawn"].guidance_chunks) == (1.0, 8)  # 1 s at 16 FPS, 2 per chunk
    assert (p.rules["night"].guidance, p.rules["night"].guidance_chunks) == (0.0, 0)


@pytest.mark.parametrize("body, needle", [
    ("guidance = -1.0", "guidance must be a number >= 0 and <= 8"),
    ("guidance = 9.0", "guidance must be a number >= 0 and <= 8"),
    ('guidance = "strong"', "guidance must be a number"),
    ("guidance = 1.0\nguidance_chunks = 0", "guidance_chunks must be an integer >= 1"),
    ("guidance = 1.0\nguidance_seconds = 0.0", "guidance_seconds must be a finite number > 0"),
    ("guidance = 1.0\nguidance_chunks = 2\nguidance_seconds = 1.0", "not both"),
    ("guidance_chunks = 2", "needs guidance > 0"),
])
def test_bad_guidance_keys_name_the_rule_and_the_range(body, needle):
    with pytest.raises(InvalidArgumentError) as e:
        pmap(PROMPT_MAP + f'\n[events.dusk]\nprompt = "dusk"\n{body}\n')
    assert needle in str(e.value) and "[events.dusk]" in str(e.value)


DUSK = """
[events.dusk]
group = "time"
prompt = "dusk"
guidance = 1.5
guidance_chunks = 3
"""


@pytest.mark.parametrize("grouped", [False, True])
def test_the_decision_carries_guidance_only_where_its_event_takes_effect(grouped):
    p = (PromptMap.parse(GROUPED + DUSK, fps=FPS, frames_per_chunk=FPC) if grouped
         else pmap(GUIDED.replace('prompt = "the field at dusk"', 'prompt = "dusk"')))
    s = p.schedule()
    assert s.at(0).guidance == 0
    s.apply(p.change_for_event(1, "dusk", {}, max_chars=200), 1)
    d = s.at(1)
    assert (d.guidance, d.guidance_chunks) == (1.5, 3) and d.in_effect(1) and "dusk" in describe(d.spec)
    assert s.at(2).guidance == 0 and s.at(3).guidance == 0  # still in effect, no longer starting


def test_an_event_with_guidance_guides_the_stream_away_from_the_prompt_before_it_for_its_chunks():
    """The engine sets the prompt before the event as the stream's negative prompt at the chunk where the
    event takes effect, and clears it guidance_chunks later; events without guidance set none."""
    with one_torch_thread():
        rt = make_runtime(pace=False, warm_up=False, prompt_map=GUIDED)
        smp = rt.engine.sampler
        log = []
        real_set, real_clear, real_prompt = smp.set_negative_prompt, smp.clear_negative_prompt, smp.set_prompt

        def chunk(sid):
            return smp.buffer_state(sid)[0][-1] if smp.is_streaming(sid) else -1

        def on_set(sid, text, mask, scale):
            log.append(("negative", chunk(sid), scale, text.clone()))
            real_set(sid, text, mask, scale)

        def on_clear(sid):
            log.append(("clear", chunk(sid)))
            real_clear(sid)

        def on_prompt(sid, text, mask):
            log.append(("prompt", chunk(sid), text.clone()))
            real_prompt(sid, text, mask)

        smp.set_negative_prompt, smp.clear_negative_prompt, smp.set_prompt = on_set, on_clear, on_prompt
        conn = rt.connect()
        try:
            conn.handle(m.Handshake(settings=m.SessionSettings(prompt="a field", prompt_map=GUIDED, seed=1)))
            conn.handle(m.Credit(n=1000))
            assert wait_until(lambda: conn.session.next_chunk >= 2, 10)
            conn.handle(m.Event(event_id=1, event_type="night", payload={}))  # no guidance
            assert wait_until(lambda: conn.session.next_chunk >= 5, 10)
            conn.handle(m.Event(event_id=2, event_type="dusk", payload={}))
            assert wait_until(lambda: conn.session.next_chunk >= 12, 10)
        finally:
            rt.shutdown()
        negatives = [e for e in log if e[0] == "negative"]
        assert len(negatives) == 1, log
        _, at, scale, text = negatives[0]
        prompts = [e for e in log if e[0] == "prompt"]
        night = next(e for e in prompts if e[1] < at)  # the night prompt: what was in effect before dusk
        assert scale == 1.5 and torch.equal(text, night[2])
        clears = [e for e in log if e[0] == "clear"]
        assert [c[1] - at for c in clears] == [3], log  # cleared guidance_chunks after


def test_a_compiled_warm_up_makes_a_batch_of_two_even_for_one_session(monkeypatch):
    """The warm-up compiles a second batch size (so that later ones reuse a dynamic batch dimension) with a
    negative prompt's row, not a second stream: a runtime of max_sessions = 1 has room for one stream only
    (adding one failed the warm-up of `streamdit eval --minutes`)."""
    from runtime.sampling.streaming import StreamingSampler

    with one_torch_thread():
        rt = make_runtime(pace=False, warm_up=False, max_sessions=1)
        try:
            smp = rt.engine.sampler
            monkeypatch.setattr(StreamingSampler, "compiled", property(lambda self: True))
            rows = []
            real_step = smp.step

            def step():
                rows.append(len(smp.stream_ids) + sum(st.negative is not None for st in smp._streams.values()))
                return real_step()

            smp.step = step
            rt.engine._warm_up()
            assert max(rows) == 2 and smp.stream_ids == []
        finally:
            rt.shutdown()
