## The parts session.gd delegates to, on their own: the held changes (the newest, in order), the
## connection's failure codes and backoff, the protocol's check of a handshake reply, and the
## handshake's prompt map, resume token and closed messages.
extends "res://tests/test_case.gd"

const Connection := preload("res://addons/streamdit/session_connection.gd")
const HeldChanges := preload("res://addons/streamdit/held_changes.gd")
const Handshake := preload("res://addons/streamdit/session_handshake.gd")
const Protocol := preload("res://addons/streamdit/protocol.gd")
const Zmtp := preload("res://addons/streamdit/zmtp.gd")
const WsLink := preload("res://addons/streamdit/ws_link.gd")


func test_held_changes_keep_the_newest_in_order() -> void:
	var held := HeldChanges.new(3)
	for i in 5:
		held.hold({"event_id": i + 1})
	check_eq(held.size(), 3, "capacity")
	var ids: Array[int] = []
	for change in held.take_all():
		ids.append(change["event_id"])
	check_eq(ids, [3, 4, 5] as Array[int], "the oldest are dropped, the rest stay in order")
	check_eq(held.size(), 0, "take_all empties it")
	check(held.take_all().is_empty(), "nothing twice")


func test_failure_codes_of_each_link_failure() -> void:
	var connection := Connection.new()
	var cases := [
		[Zmtp.Failure.CONNECT_FAILED, false, "connect_failed", false, "retrying with backoff"],
		[Zmtp.Failure.HOST_NOT_FOUND, false, "host_not_found", false, "why"],
		[Zmtp.Failure.CONNECT_TIMEOUT, false, "connect_timeout", false, "why"],
		[Zmtp.Failure.CLOSED_BY_PEER, true, "connection_lost", false, "last frame stays shown"],
		[Zmtp.Failure.CLOSED_BY_PEER, false, "connect_failed", false, "last frame stays shown"],
		[Zmtp.Failure.MESSAGE_TOO_LARGE, true, "bad_message", true, "why"],
		[Zmtp.Failure.BAD_GREETING, false, "not_a_runtime", true, "check host and port"],
		[Zmtp.Failure.PEER_ERROR, false, "not_a_runtime", true, "check host and port"],
		[Zmtp.Failure.HANDSHAKE_TIMEOUT, false, "connection_lost", false, "why"],
	]
	for c in cases:
		connection.link._fail(c[0], "why")
		var failure := connection.failure(c[1])
		var label := "%s (streaming %s)" % [Zmtp.Failure.keys()[c[0]], c[1]]
		check_eq(failure["code"], c[2], label + " code")
		check_eq(failure["hard"], c[3], label + " hard")
		check(failure["message"].contains(c[4]), label + " message: " + failure["message"])
	connection.link._fail(Zmtp.Failure.SEND_FAILED, "")
	check_eq(connection.failure(true)["message"], "the connection closed", "an empty message")
	check(connection.has_failed() and not connection.is_ready(), "the link's state")
	connection.close()
	check(not connection.has_failed(), "closed")


func test_transport_setting_picks_the_link() -> void:
	var connection := Connection.new()
	check(connection.link is Zmtp, "ZeroMQ by default")
	connection.open("websocket", "127.0.0.1", 9, 1.0)
	check(connection.link is WsLink, "websocket")
	check_eq(connection.link.connect_timeout_ms, 1000, "the timeout, in ms")
	connection.open("zmq", "127.0.0.1", 9, 2.5)
	check(connection.link is Zmtp and not connection.link is WsLink, "back to ZeroMQ")
	check_eq(connection.link.handshake_timeout_ms, 2500, "the handshake timeout, in ms")
	connection.close()


func test_backoff_doubles_up_to_the_max_and_reports_each_code_once() -> void:
	var connection := Connection.new()
	connection.reset_backoff(0.5)
	var delays: Array[float] = []
	for i in 4:
		delays.append(connection.retry_delay_s)
		connection.schedule_retry(2.0)
	check_eq(delays, [0.5, 1.0, 2.0, 2.0] as Array[float], "delays before each attempt")
	check(connection.first_in_outage("connect_failed"), "first report")
	check(not connection.first_in_outage("connect_failed"), "not twice in one outage")
	check(connection.first_in_outage("host_not_found"), "another code")
	connection.reset_backoff(0.25)
	check_eq(connection.retry_delay_s, 0.25, "reset")
	check(connection.first_in_outage("connect_failed"), "a new outage reports again")


func test_handshake_reply_check() -> void:
	var reply := {"protocol_version": "1.3", "pixel_format": "rgb8"}
	check_eq(Protocol.check_reply(reply), {}, "1.x rgb8 plays")
	reply["protocol_version"] = "2.0"
	var newer := Protocol.check_reply(reply)
	check_eq(newer.get("code"), "version_mismatch", "another major")
	check(newer["message"].contains("update the addon"), newer["message"])
	reply["protocol_version"] = "0.9"
	check(Protocol.check_reply(reply)["message"].contains("update the runtime"), "an older runtime")
	reply = {"protocol_version": "1.0", "pixel_format": "yuv420"}
	check_eq(Protocol.check_reply(reply).get("code"), "unsupported", "another pixel format")


func test_handshake_prompt_map_resume_token_and_closed() -> void:
	var hs := Handshake.new()
	check_eq(hs.begin("res://tests/test_prompts.toml"), "", "a readable map")
	check(hs.prompt_map_text.contains("base = "), "its text")
	check(hs.base_prompt("") != "", "the map's base when the prompt is empty")
	check_eq(hs.base_prompt("dusk"), "dusk", "the prompt otherwise")
	var missing := hs.begin("res://tests/no_such_map.toml")
	check(missing.contains("no_such_map.toml") and missing.contains("export filter"), missing)
	check_eq(hs.message("p", 3, 4, "", true, 0.5)["resume_token"], "", "a new session")
	var reply := {"resume_token": "t-9", "protocol_version": "1.0", "pixel_format": "rgb8"}
	check_eq(hs.accept(reply), {}, "a good reply")
	check_eq(hs.message("p", 3, 4, "", false, 0.5)["resume_token"], "t-9", "resumes")
	check_eq(hs.ended({"code": "client_close", "reason": ""}), {}, "the answer to our close")
	var replaced := hs.ended({"code": "replaced", "reason": "r"})
	check_eq([replaced["code"], replaced["hard"]], ["replaced", true], "replaced: stop")
	hs.resume_token = "t-9"
	var ended := hs.ended({"code": "idle_timeout", "reason": "idle"})
	check_eq([ended["code"], ended["hard"], hs.resume_token], ["closed", false, ""], "forgotten")
