## session.gd against a scripted runtime: every failure a game developer should see as a clear
## error while the game keeps running (version mismatch, malformed messages, a lost connection,
## failed resume, a runtime that is not up yet, bad settings, server errors and closes).
extends "res://tests/session_case.gd"


func test_version_mismatch_is_refused() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	var rec := Recorder.new(s)
	s.start()
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 1)
	fake.send_reply({"protocol_version": "2.0"})
	await _until(fake, func() -> bool: return not rec.errors.is_empty())
	check_eq(rec.codes(), ["version_mismatch"] as Array[String], "code")
	var message: String = rec.errors[0][1]
	check(message.contains("2.0") and message.contains("1.0"), message)
	check(message.contains("update the addon"), message)
	check_eq(s.state, Session.State.FAILED, "refused, not a warning")
	await _wait(fake, 300)
	check_eq(fake.connections, 1, "no reconnect after a version mismatch")
	check_eq(rec.connects, 0, "never connected")

	s.start()
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 2)
	var refusal := "protocol_version 1.0 is not 0.9"
	fake.send_map({"type": "error", "code": "version_mismatch", "message": refusal, "fatal": true})
	await _until(fake, func() -> bool: return rec.errors.size() == 2)
	check_eq(rec.errors[1], ["version_mismatch", refusal], "the runtime's refusal")
	check_eq(s.state, Session.State.FAILED, "failed")
	_finish(s, fake)


func test_malformed_messages_are_reported_and_skipped() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	var rec := Recorder.new(s)
	await _streaming(s, fake, rec)
	fake.send_parts([PackedByteArray([0xc1])] as Array[PackedByteArray])
	fake.send_map({"frame_index": 0})
	var frame := {
		"type": "frame",
		"frame_index": 0,
		"chunk_index": 0,
		"pts_us": 0,
		"event_id": 0,
		"width": 4,
		"height": 2,
		"pixel_format": "rgb8",
	}
	fake.send_map(frame, PackedByteArray([1, 2, 3, 4, 5]))
	fake.send_map({"type": "hologram", "from": "protocol 1.9"})
	fake.send_frame(1)
	await _until(fake, func() -> bool: return s.frames_received == 1)
	check_eq(rec.codes(), ["bad_message", "bad_message", "bad_message"] as Array[String], "codes")
	check(
		rec.errors.all(func(e: Array) -> bool: return e[1].contains("malformed")), str(rec.errors)
	)
	check(rec.errors[2][1].contains("5 pixel bytes"), rec.errors[2][1])
	check_eq(s.state, Session.State.STREAMING, "still streaming")
	await _until(fake, func() -> bool: return _credits(fake) >= 2)
	await _wait(fake, 100)
	check_eq(_credits(fake), 2, "a credit back for the unreadable frame too")
	_finish(s, fake)

	fake = FakeRuntime.new()
	s = _session(fake.start())
	rec = Recorder.new(s)
	s.start()
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 1)
	fake.send_reply({"width": "64"})
	await _until(fake, func() -> bool: return not rec.errors.is_empty())
	check_eq(rec.codes(), ["bad_message"] as Array[String], "a malformed reply")
	check_eq(s.state, Session.State.FAILED, "cannot stream without a valid reply")
	_finish(s, fake)


func test_lost_connection_keeps_the_frame_and_resumes() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	var rec := Recorder.new(s)
	await _streaming(s, fake, rec)
	fake.send_frame(0, 0, 50)
	await _until(fake, func() -> bool: return s.frames_shown == 1)
	fake.drop()
	await _until(fake, func() -> bool: return not rec.errors.is_empty())
	check_eq(rec.codes(), ["connection_lost"] as Array[String], "reported")
	check(rec.errors[0][1].contains("last frame"), rec.errors[0][1])
	check_eq(s.get_image().get_data()[0], 50, "the last frame stays")
	var held := s.push_event("night_falls")
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 2)
	check_eq(fake.connections, 2, "reconnected")
	check_eq(fake.of_type("handshake")[1].get("resume_token"), "token-1", "with the resume token")
	check(s.reconnects >= 1, "reconnects counted")
	fake.send_reply({"resumed": true, "next_frame_index": 10})
	await _until(fake, func() -> bool: return fake.of_type("event").size() == 1)
	check_eq(rec.connects, 2, "connected again")
	check_eq(fake.of_type("event")[0]["event_id"], held, "the held event goes out")
	fake.send_frame(10)
	await _until(fake, func() -> bool: return s.frames_received == 2)
	check_eq(s.frames_dropped, 0, "numbering continues at next_frame_index")
	check_eq(rec.codes(), ["connection_lost"] as Array[String], "one error for the outage")
	_finish(s, fake)


func test_resume_failed_starts_a_new_session() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	var rec := Recorder.new(s)
	await _streaming(s, fake, rec)
	fake.drop()
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 2)
	var expired := {
		"type": "error", "code": "resume_failed", "message": "token expired", "fatal": true
	}
	fake.send_map(expired)
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 3)
	check_eq(fake.connections, 2, "on the same connection")
	check_eq(fake.of_type("handshake")[2].get("resume_token"), "", "without the token")
	fake.send_reply({"session_id": "s-2"})
	await _until(fake, func() -> bool: return rec.connects == 2)
	check_eq(s.session_info.get("session_id"), "s-2", "a new session")
	check_eq(rec.codes(), ["connection_lost", "resume_failed"] as Array[String], "codes")
	_finish(s, fake)


func test_refused_then_the_runtime_comes_up() -> void:
	var probe := TCPServer.new()
	probe.listen(0, "127.0.0.1")
	var port := probe.get_local_port()
	probe.stop()
	var s := _session(port)
	var rec := Recorder.new(s)
	s.start()
	var slowest := 0
	var deadline := Time.get_ticks_msec() + 600
	while Time.get_ticks_msec() < deadline:
		var t0 := Time.get_ticks_usec()
		s.poll()
		slowest = maxi(slowest, Time.get_ticks_usec() - t0)
		await next_frame()
	check_eq(rec.codes(), ["connect_failed"] as Array[String], "reported once per outage")
	check(rec.errors[0][1].contains("127.0.0.1:%d" % port), rec.errors[0][1])
	check(s.reconnects >= 2, "kept retrying (%d)" % s.reconnects)
	check(slowest < 20000, "poll never blocks (slowest %d us)" % slowest)
	var fake := FakeRuntime.new()
	fake.start(port)
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 1)
	fake.send_reply()
	await _until(fake, func() -> bool: return rec.connects == 1)
	_finish(s, fake)


func test_wrong_host_and_bad_settings() -> void:
	var s := _session(5557)
	var rec := Recorder.new(s)
	s.host = "no-such-host.invalid"
	s.start()
	await _until(null, func() -> bool: return not rec.errors.is_empty())
	check_eq(rec.codes(), ["host_not_found"] as Array[String], "unresolvable host")
	check(rec.errors[0][1].contains("no-such-host.invalid"), rec.errors[0][1])
	_finish(s, null)

	s = _session(5557)
	rec = Recorder.new(s)
	s.prompt = ""
	s.start()  # no prompt and no prompt map: the runtime's default prompt map gives both
	check_eq(rec.codes(), [] as Array[String], "no prompt and no prompt map is not refused")
	s.prompt_map_path = "res://no/such/map.toml"
	s.start()
	check(rec.errors[-1][1].contains("res://no/such/map.toml"), rec.errors[-1][1])
	check_eq(s.state, Session.State.FAILED, "failed at once")
	_finish(s, null)

	var http := FakePeer.new()
	s = _session(http.start())
	rec = Recorder.new(s)
	s.start()
	await _until(null, func() -> bool: return _poll_peer(http) >= 64)
	http.send("HTTP/1.1 400 Bad Request\r\n\r\n".to_ascii_buffer())
	await _until(null, func() -> bool: return not rec.errors.is_empty())
	check_eq(rec.codes(), ["not_a_runtime"] as Array[String], "an HTTP server")
	check(rec.errors[0][1].contains("check host and port"), rec.errors[0][1])
	check_eq(s.state, Session.State.FAILED, "no retry against a non-runtime")
	http.stop()
	_finish(s, null)


func test_server_errors_and_closes() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	var rec := Recorder.new(s)
	await _streaming(s, fake, rec)
	var unknown := {"type": "error", "code": "unknown_event", "message": "no rule", "event_id": 2}
	fake.send_map(unknown)
	await _until(fake, func() -> bool: return rec.errors.size() == 1)
	check_eq(rec.errors[0], ["unknown_event", "event 2: no rule"], "non-fatal error")
	check_eq(s.last_error.get("event_id"), 2, "last_error event id")
	check_eq(s.state, Session.State.STREAMING, "still streaming")
	fake.send_map({"type": "error", "code": "too_many_sessions", "message": "full", "fatal": true})
	await _until(fake, func() -> bool: return fake.connections == 2)
	check_eq(rec.codes()[-1], "too_many_sessions", "a busy runtime is retried")
	fake.send_reply({"resumed": true})
	await _until(fake, func() -> bool: return rec.connects == 2)
	fake.send_map({"type": "closed", "code": "replaced", "reason": "resumed elsewhere"})
	await _until(fake, func() -> bool: return s.state == Session.State.FAILED)
	check_eq(rec.codes()[-1], "replaced", "replaced: stop, do not steal it back")
	_finish(s, fake)


func test_bad_payload_set_prompt_and_close() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	var rec := Recorder.new(s)
	await _streaming(s, fake, rec)
	var bad := s.push_event("cow_nearby", {"where": Vector2.ONE})
	check_eq(rec.codes(), ["invalid_argument"] as Array[String], "checked before sending")
	check_eq(s.set_prompt("night over the meadow"), bad + 1, "one counter for events and prompts")
	check_eq(s.prompt, "night over the meadow", "a fresh session starts from it")
	s.close("level over")
	check_eq(s.state, Session.State.CLOSED, "closed")
	await _until(fake, func() -> bool: return fake.of_type("close").size() == 1)
	check_eq(fake.of_type("close")[0].get("reason"), "level over", "close reason")
	check(fake.of_type("event").is_empty(), "the bad event was not sent")
	check_eq(fake.of_type("set_prompt")[0].get("text"), "night over the meadow", "set_prompt")
	_finish(s, fake)
