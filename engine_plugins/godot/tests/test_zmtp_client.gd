## zmtp.gd over real loopback TCP against a scripted server (fake_zmtp_peer.gd): the handshake,
## traffic both ways, PING, and every failure a game developer should see as a clear error.
## The interop test against real libzmq is tests/test_godot_zmtp.py at the repository root.
extends "res://tests/test_case.gd"

const Zmtp := preload("res://addons/streamdit/zmtp.gd")
const Codec := preload("res://addons/streamdit/zmtp_codec.gd")
const FakePeer := preload("res://tests/fake_zmtp_peer.gd")

## Longest a test waits for one step, in milliseconds.
const STEP_MS := 3000


func test_refused_connection() -> void:
	var probe := TCPServer.new()
	probe.listen(0, "127.0.0.1")
	var port := probe.get_local_port()
	probe.stop()
	var client := Zmtp.new()
	check_eq(client.connect_to_host("127.0.0.1", port), OK, "connect starts")
	check_eq(client.get_state(), Zmtp.State.CONNECTING, "connecting")
	await _until(client, null, func() -> bool: return client.get_state() == Zmtp.State.FAILED)
	check_eq(client.get_failure(), Zmtp.Failure.CONNECT_FAILED, "failure")
	check(client.get_error_message().contains("127.0.0.1:%d" % port), client.get_error_message())
	var parts: Array[PackedByteArray] = [PackedByteArray([1])]
	check_eq(client.send_multipart(parts), ERR_CONNECTION_ERROR, "send after a failure")


func test_host_names_resolve_without_blocking() -> void:
	var client := Zmtp.new()
	var t0 := Time.get_ticks_usec()
	check_eq(client.connect_to_host("no-such-host.invalid", 5557), OK, "lookup starts")
	check(Time.get_ticks_usec() - t0 < 50000, "connect_to_host returns at once")
	await _until(client, null, func() -> bool: return client.get_state() == Zmtp.State.FAILED)
	check_eq(client.get_failure(), Zmtp.Failure.HOST_NOT_FOUND, "failure")
	check(client.get_error_message().contains("no-such-host.invalid"), client.get_error_message())
	var fake := FakePeer.new()
	client.connect_to_host("localhost", fake.start())
	await _until(client, fake, func() -> bool: return fake.received.size() >= 64)
	check_eq(client.get_state(), Zmtp.State.HANDSHAKING, "localhost is 127.0.0.1")
	client.close()
	fake.stop()


func test_handshake_and_traffic() -> void:
	var client := Zmtp.new()
	client.identity = "game-1".to_ascii_buffer()
	var fake := FakePeer.new()
	client.connect_to_host("127.0.0.1", fake.start())
	var early: Array[PackedByteArray] = ["sent before READY".to_utf8_buffer(), _pattern(1024)]
	check_eq(client.send_multipart(early), OK, "send while connecting is held")
	await _until(client, fake, func() -> bool: return fake.received.size() >= 64)
	check_eq(fake.received.slice(0, 64), Codec.encode_greeting(), "client greeting")
	check_eq(client.get_state(), Zmtp.State.HANDSHAKING, "handshaking")
	fake.send_greeting()
	fake.send_ready()
	await _until(client, fake, func() -> bool: return fake.client_frames().size() >= 3)
	check_eq(client.get_state(), Zmtp.State.READY, "ready")
	check_eq(client.get_peer_metadata().get("socket-type"), "ROUTER".to_ascii_buffer(), "peer")
	var frames := fake.client_frames()
	var ready := Codec.parse_command(frames[0].body)
	check_eq(ready.name, "READY", "client READY")
	var meta := Codec.parse_metadata(ready.data).properties
	check_eq(meta.get("socket-type"), "DEALER".to_ascii_buffer(), "client socket type")
	check_eq(meta.get("identity"), client.identity, "client identity")
	check_eq(frames[1].body, early[0], "held part 0")
	check(frames[1].has_more(), "held part 0 has MORE")
	check_eq(frames[2].body, early[1], "held part 1 (long frame)")
	check(not frames[2].has_more(), "held part 1 is last")

	var parts: Array[PackedByteArray] = [PackedByteArray(), "hello".to_utf8_buffer(), _pattern(300)]
	var wire := PackedByteArray()
	for i in parts.size():
		wire.append_array(Codec.encode_frame(parts[i], Codec.FLAG_MORE if i < 2 else 0))
	fake.send(wire.slice(0, 40))
	await _until(client, fake, func() -> bool: return false, 50)
	check(not client.has_message(), "no message from half of it")
	fake.send(wire.slice(40))
	await _until(client, fake, func() -> bool: return client.has_message())
	check_eq(client.take_message(), parts, "multipart message in")
	check_eq(client.take_message(), [] as Array[PackedByteArray], "inbox empty")

	var before := fake.received.size()
	fake.send(Codec.encode_command("PING", "0064ctx".to_ascii_buffer()))
	await _until(client, fake, func() -> bool: return fake.received.size() > before)
	var pong := Codec.parse_command(fake.client_frames()[-1].body)
	check_eq(pong.name, "PONG", "PING answered")
	check_eq(pong.data, "64ctx".to_ascii_buffer(), "PONG echoes the context")
	client.close()
	check_eq(client.get_state(), Zmtp.State.DISCONNECTED, "closed")
	fake.stop()


func test_bad_greeting() -> void:
	var failure := await _failure_after(
		func(fake: FakePeer) -> void:
			fake.send("HTTP/1.1 400 Bad Request\r\n\r\n".to_ascii_buffer())
	)
	check_eq(failure, Zmtp.Failure.BAD_GREETING, "HTTP server")


func test_old_zmtp_version() -> void:
	var failure := await _failure_after(func(fake: FakePeer) -> void: fake.send_greeting("NULL", 1))
	check_eq(failure, Zmtp.Failure.UNSUPPORTED_VERSION, "ZMTP 2.0 peer")


func test_unsupported_mechanism() -> void:
	var failure := await _failure_after(func(fake: FakePeer) -> void: fake.send_greeting("CURVE"))
	check_eq(failure, Zmtp.Failure.UNSUPPORTED_MECHANISM, "CURVE server")


func test_incompatible_socket_type() -> void:
	var failure := await _failure_after(
		func(fake: FakePeer) -> void:
			fake.send_greeting()
			fake.send_ready("PUB")
	)
	check_eq(failure, Zmtp.Failure.INCOMPATIBLE_PEER, "PUB server")


func test_error_command() -> void:
	var reason := PackedByteArray([9])
	reason.append_array("no access".to_ascii_buffer())
	var client := await _failed_client(
		func(fake: FakePeer) -> void:
			fake.send_greeting()
			fake.send(Codec.encode_command("ERROR", reason))
	)
	check_eq(client.get_failure(), Zmtp.Failure.PEER_ERROR, "ERROR command")
	check(client.get_error_message().contains("no access"), client.get_error_message())


func test_malformed_frame() -> void:
	var failure := await _failure_after(
		func(fake: FakePeer) -> void:
			fake.send_greeting()
			fake.send_ready()
			fake.send("4000".hex_decode())
	)
	check_eq(failure, Zmtp.Failure.MALFORMED_FRAME, "reserved flag bits")


func test_message_too_large() -> void:
	var client := await _failed_client(_send_two_600_byte_parts, 1000)
	check_eq(client.get_failure(), Zmtp.Failure.MESSAGE_TOO_LARGE, "1200 bytes over 1000")


func test_closed_by_peer() -> void:
	var client := await _failed_client(
		func(fake: FakePeer) -> void:
			fake.send_greeting()
			fake.send_ready()
			fake.send_message([PackedByteArray([1])] as Array[PackedByteArray])
			fake.stop()
	)
	check_eq(client.get_failure(), Zmtp.Failure.CLOSED_BY_PEER, "server closed")
	check_eq(client.take_message(), [PackedByteArray([1])] as Array[PackedByteArray], "data kept")
	var early := await _failed_client(func(fake: FakePeer) -> void: fake.stop())
	check(early.get_error_message().contains("handshake"), early.get_error_message())


func test_handshake_timeout() -> void:
	var client := Zmtp.new()
	client.handshake_timeout_ms = 200
	var fake := FakePeer.new()
	client.connect_to_host("127.0.0.1", fake.start())
	await _until(client, fake, func() -> bool: return client.get_state() == Zmtp.State.FAILED)
	check_eq(client.get_failure(), Zmtp.Failure.HANDSHAKE_TIMEOUT, "silent server")
	fake.stop()


func test_send_rules() -> void:
	var client := Zmtp.new()
	check_eq(client.send_multipart([] as Array[PackedByteArray]), ERR_INVALID_PARAMETER, "empty")
	var one: Array[PackedByteArray] = [PackedByteArray()]
	check_eq(client.send_multipart(one), ERR_CONNECTION_ERROR, "not connected")
	client.identity = PackedByteArray([0, 1])
	check_eq(client.connect_to_host("127.0.0.1", 1), ERR_INVALID_PARAMETER, "identity with 0")
	check_eq(client.get_failure(), Zmtp.Failure.INVALID_SETTINGS, "settings failure")
	check(client.get_error_message().contains("identity"), client.get_error_message())


## Polls [param client] (and [param fake]) each frame until [param done] holds, STEP_MS pass,
## or, when [param frames] > 0, that many frames pass.
func _until(client: Zmtp, fake: FakePeer, done: Callable, frames := 0) -> void:
	var deadline := Time.get_ticks_msec() + STEP_MS
	var count := 0
	while Time.get_ticks_msec() < deadline and (frames == 0 or count < frames):
		if fake != null:
			fake.poll()
		client.poll()
		if done.call():
			return
		count += 1
		await next_frame()
	if frames == 0:
		failures.append(
			(
				"timed out waiting; client state %s: %s"
				% [Zmtp.State.keys()[client.get_state()], client.get_error_message()]
			)
		)


## Connects a client to a fake server that runs [param script] once the client is there, and
## returns the client once it has failed.
func _failed_client(script: Callable, max_message_size := 1 << 20) -> Zmtp:
	var client := Zmtp.new()
	client.max_message_size = max_message_size
	var fake := FakePeer.new()
	client.connect_to_host("127.0.0.1", fake.start())
	await _until(client, fake, func() -> bool: return fake.received.size() >= 64)
	script.call(fake)
	await _until(client, fake, func() -> bool: return client.get_state() == Zmtp.State.FAILED)
	check(client.get_error_message() != "", "an error message")
	fake.stop()
	return client


func _failure_after(script: Callable) -> Zmtp.Failure:
	var client := await _failed_client(script)
	return client.get_failure()


func _send_two_600_byte_parts(fake: FakePeer) -> void:
	fake.send_greeting()
	fake.send_ready()
	var parts: Array[PackedByteArray] = [_pattern(600), _pattern(600)]
	fake.send_message(parts)


func _pattern(size: int) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(size)
	for i in size:
		out[i] = (i * 13 + 5) % 256
	return out
