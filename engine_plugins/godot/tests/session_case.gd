## Base of the session suites (test_session.gd, test_session_failures.gd): a session in the scene
## tree against a scripted runtime (fake_runtime.gd) over loopback TCP, what it emitted, and the
## waits the tests share.
extends "res://tests/test_case.gd"

const Session := preload("res://addons/streamdit/session.gd")
const FakeRuntime := preload("res://tests/fake_runtime.gd")
const FakePeer := preload("res://tests/fake_zmtp_peer.gd")
const PROMPTS := "res://tests/test_prompts.toml"

## Longest a test waits for one step, in milliseconds.
const STEP_MS := 3000


## What a session emitted.
class Recorder:
	extends RefCounted
	var connects := 0
	var errors: Array[Array] = []
	var frames: Array[Dictionary] = []
	var textures: Array[ImageTexture] = []
	var applied: Array[Array] = []

	func _init(session: Session) -> void:
		session.connected.connect(func() -> void: connects += 1)
		session.error.connect(
			func(code: String, message: String) -> void: errors.append([code, message])
		)
		session.frame_received.connect(
			func(texture: ImageTexture, info: Dictionary) -> void:
				textures.append(texture)
				frames.append(info)
		)
		session.event_applied.connect(
			func(event_id: int, prompt: String) -> void: applied.append([event_id, prompt])
		)

	func codes() -> Array[String]:
		var out: Array[String] = []
		for e in errors:
			out.append(e[0])
		return out


## A session in the tree, not started, with short delays for tests.
func _session(port: int) -> Session:
	var s := Session.new()
	s.autostart = false
	s.port = port
	s.prompt = "a meadow"
	s.reconnect_delay_min = 0.05
	s.reconnect_delay_max = 0.2
	s.timeout = 2.0
	tree.root.add_child(s)
	return s


## Starts [param s] and answers its handshake.
func _streaming(s: Session, fake: FakeRuntime, rec: Recorder) -> void:
	s.start()
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 1)
	fake.send_reply()
	await _until(fake, func() -> bool: return rec.connects == 1)


## Polls [param fake] each frame (the session polls itself) until [param done] holds or STEP_MS
## pass.
func _until(fake: FakeRuntime, done: Callable) -> void:
	var deadline := Time.get_ticks_msec() + STEP_MS
	while Time.get_ticks_msec() < deadline:
		if fake != null:
			fake.poll()
		if done.call():
			return
		await next_frame()
	failures.append("timed out waiting")


func _wait(fake: FakeRuntime, ms: int) -> void:
	var deadline := Time.get_ticks_msec() + ms
	while Time.get_ticks_msec() < deadline:
		fake.poll()
		await next_frame()


func _poll_peer(peer: FakePeer) -> int:
	peer.poll()
	return peer.received.size()


## Credits the client gave back.
func _credits(fake: FakeRuntime) -> int:
	var total := 0
	for c in fake.of_type("credit"):
		total += c["n"]
	return total


func _finish(s: Session, fake: FakeRuntime) -> void:
	tree.root.remove_child(s)
	s.free()
	if fake != null:
		fake.stop()
