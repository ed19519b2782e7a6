## session.gd in the scene tree against a scripted runtime (fake_runtime.gd) over loopback TCP:
## the handshake it sends, frames into the texture at the stream's pace, credits and events. The
## failures are in test_session_failures.gd.
extends "res://tests/session_case.gd"


func test_handshake_events_frames_and_credits() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	s.prompt = ""
	s.prompt_map_path = PROMPTS
	s.seed = 7
	s.credits = 3
	var rec := Recorder.new(s)
	check_eq(s.push_event("zombie_appears", {"zone": "lava"}), 1, "first event id")
	s.start()
	check_eq(s.state, Session.State.CONNECTING, "connecting")
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 1)
	var hs: Dictionary = fake.of_type("handshake")[0]
	check_eq(hs.get("protocol_version"), "1.0", "protocol version")
	check_eq(hs.get("client_name"), "godot-addon", "client name")
	check_eq(
		hs.get("capabilities"), {"pixel_formats": ["rgb8"], "v2v": false, "credits": 3}, "caps"
	)
	var settings: Dictionary = hs.get("settings", {})
	check_eq(settings.get("prompt_map"), FileAccess.get_file_as_string(PROMPTS), "prompt map text")
	check_eq(settings.get("seed"), 7, "seed")
	check_eq(hs.get("resume_token"), "", "no resume token")
	check(fake.of_type("event").is_empty(), "an event waits for the handshake reply")

	fake.send_reply()
	await _until(fake, func() -> bool: return fake.of_type("event").size() == 1)
	check_eq(rec.connects, 1, "connected")
	check_eq(s.state, Session.State.STREAMING, "streaming")
	check_eq(s.session_info.get("session_id"), "s-1", "session info")
	check_eq(s.texture.get_size(), Vector2(4, 2), "texture sized by the reply")
	var ev: Dictionary = fake.of_type("event")[0]
	check_eq(
		[ev["event_id"], ev["event_type"], ev["payload"]],
		[1, "zombie_appears", {"zone": "lava"}],
		"event"
	)

	fake.send_frame(0, 0, 10)
	await _until(fake, func() -> bool: return s.frames_received == 1)
	check_eq(rec.frames[-1]["prompt"], 'a "quiet" meadow', "event 0 is the map's base prompt")
	var ack := {
		"type": "event_ack", "event_id": 1, "chunk_index": 1, "prompt": "a zombie in the lava"
	}
	fake.send_map(ack)
	fake.send_frame(1, 0, 20)
	fake.send_frame(2, 1, 30)
	await _until(fake, func() -> bool: return s.frames_received == 3 and _credits(fake) == 3)
	check_eq(rec.applied, [[1, "a zombie in the lava"]] as Array[Array], "event_applied")
	check_eq(s.get_image().get_data()[0], 30, "the newest frame is shown")
	check_eq(rec.frames[-1]["event_id"], 1, "frame info event_id")
	check_eq(rec.frames[-1]["prompt"], "a zombie in the lava", "frame info prompt")
	check_eq(s.prompt_in_effect, "a zombie in the lava", "prompt in effect")
	check(rec.textures.all(func(t: ImageTexture) -> bool: return t == s.texture), "one texture")
	check(s.frames_shown >= 2 and s.frames_shown <= 3, "shown %d" % s.frames_shown)

	fake.send_frame(6, 1, 40)
	fake.send_map({"type": "stats", "fps": 16.0, "frames_dropped": 3})
	await _until(fake, func() -> bool: return s.frames_received == 4 and not s.stats.is_empty())
	check_eq(s.frames_dropped, 3, "a gap in frame_index counts as dropped")
	check_eq(s.stats.get("frames_dropped"), 3, "stats kept")
	check_eq(rec.errors, [] as Array[Array], "no errors")
	_finish(s, fake)


func test_frames_of_a_chunk_play_at_the_stream_pace() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	var rec := Recorder.new(s)
	await _streaming(s, fake, rec)
	var shown_at: Array[int] = []
	s.frame_received.connect(
		func(_t: ImageTexture, _i: Dictionary) -> void: shown_at.append(Time.get_ticks_msec())
	)
	for i in 4:
		fake.send_frame(i, 0, 10 * i)
	await _until(fake, func() -> bool: return _credits(fake) == 4)
	var indices := rec.frames.map(func(f: Dictionary) -> int: return f["frame_index"])
	check_eq(indices, [0, 1, 2, 3], "every frame shown, in order")
	var spread := shown_at[-1] - shown_at[0]
	check(spread >= 150 and spread < 600, "3 frame intervals at 16 FPS apart: %d ms" % spread)
	check_eq(s.frames_skipped, 0, "none skipped")

	s.smooth_playback = false
	for i in range(4, 8):
		fake.send_frame(i, 0, 10 * i)
	await _until(fake, func() -> bool: return _credits(fake) == 8)
	check_eq(rec.frames[-1]["frame_index"], 7, "the newest at once")
	check_eq(s.frames_skipped, 3, "the others skipped, and credited")
	_finish(s, fake)
