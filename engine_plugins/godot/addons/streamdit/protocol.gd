## The StreamDiT wire protocol 1.0 (docs/protocol.md) in GDScript: builds the client's messages and
## checks the runtime's, so [code]session.gd[/code] deals only in validated Dictionaries.
##
## A message on the wire is a ZeroMQ multipart message: part 1 a msgpack map whose
## [code]"type"[/code] key names it, part 2 the pixels of a [code]frame[/code]. [method parse]
## checks the map against [constant SCHEMA]: required fields present and of the right type, pixels
## of the right size. Unknown keys and unknown message types pass (minor versions add them);
## anything else malformed comes back with [member Message.error] set, never as an exception.
class_name StreamDiTProtocol
extends RefCounted

const MsgPack := preload("res://addons/streamdit/msgpack.gd")

## The protocol version this addon speaks, "MAJOR.MINOR".
const VERSION := "1.0"
const VERSION_MAJOR := 1
const CLIENT_NAME := "godot-addon"
const CLIENT_VERSION := "0.1.0"
## The only pixel format of protocol 1.0: 3 bytes per pixel, R G B, rows top to bottom.
const PIXEL_FORMAT := "rgb8"
## Largest frame side accepted, in pixels (a guard against a corrupt size field).
const MAX_FRAME_SIDE := 8192

## Server messages this addon reads: field -> type. TYPE_INT fields must be >= 0 unless listed in
## [constant SIGNED_FIELDS]; TYPE_FLOAT fields accept an int. Other fields are optional.
const SCHEMA := {
	"handshake_reply":
	{
		"session_id": TYPE_STRING,
		"resume_token": TYPE_STRING,
		"protocol_version": TYPE_STRING,
		"fps": TYPE_FLOAT,
		"frames_per_chunk": TYPE_INT,
		"width": TYPE_INT,
		"height": TYPE_INT,
		"pixel_format": TYPE_STRING,
		"credits": TYPE_INT,
	},
	"frame":
	{
		"frame_index": TYPE_INT,
		"chunk_index": TYPE_INT,
		"pts_us": TYPE_INT,
		"event_id": TYPE_INT,
		"width": TYPE_INT,
		"height": TYPE_INT,
		"pixel_format": TYPE_STRING,
	},
	"event_ack": {"event_id": TYPE_INT, "chunk_index": TYPE_INT, "prompt": TYPE_STRING},
	"error": {"code": TYPE_STRING, "message": TYPE_STRING},
	"closed": {"code": TYPE_STRING},
	"stats": {},
}
const SIGNED_FIELDS: Array[String] = ["pts_us"]
## Optional fields of server messages and the value they take when left out or nil.
const DEFAULTS := {
	"handshake_reply":
	{"resumed": false, "next_frame_index": 0, "model": "", "limits": {}, "v2v": false},
	"event_ack": {"frame_index": 0, "in_effect": true, "client_time_us": 0},
	"error": {"event_id": 0, "fatal": false},
	"closed": {"reason": ""},
	"frame": {"source_index": -1},
}


## One message from the runtime, checked.
class Message:
	extends RefCounted
	## The message type ("frame", ...); "" when the map has none.
	var type: String = ""
	## The map's fields, defaults filled in; floats of [constant SCHEMA] are floats.
	var fields: Dictionary = {}
	## The pixels of a frame (part 2); empty for other messages.
	var pixels := PackedByteArray()
	## What is malformed, for an error message; empty when the message is well formed.
	var error: String = ""
	## False for a type this addon does not know (from a newer minor version): ignore it.
	var known: bool = true


## Decodes and checks one multipart message from the runtime.
static func parse(parts: Array[PackedByteArray]) -> Message:
	var msg := Message.new()
	if parts.is_empty():
		msg.error = "an empty message"
		return msg
	var decoded := MsgPack.decode(parts[0])
	if not decoded.ok:
		msg.error = "part 1 is not msgpack (%s)" % decoded.error
		return msg
	if typeof(decoded.value) != TYPE_DICTIONARY:
		msg.error = "part 1 is a msgpack %s, not a map" % type_string(typeof(decoded.value))
		return msg
	var map: Dictionary = decoded.value
	if typeof(map.get("type")) != TYPE_STRING:
		msg.error = 'the map has no "type" string (keys: %s)' % str(map.keys())
		return msg
	msg.type = map["type"]
	if not SCHEMA.has(msg.type):
		msg.known = false
		msg.fields = map
		return msg
	msg.fields = map.duplicate()
	for key: String in DEFAULTS.get(msg.type, {}):
		if msg.fields.get(key) == null:
			msg.fields[key] = DEFAULTS[msg.type][key]
	msg.error = _check_fields(msg.type, msg.fields)
	if msg.error == "" and msg.type == "frame":
		msg.error = _check_frame(msg.fields, parts)
		if msg.error == "":
			msg.pixels = parts[1]
	elif msg.error == "" and parts.size() > 1:
		msg.error = (
			"a %s message has %d parts; only frame carries a second" % [msg.type, parts.size()]
		)
	return msg


## The major version of [param version] ("MAJOR.MINOR"), or -1 when it is not of that form.
static func major_of(version: String) -> int:
	var halves := version.split(".")
	if halves.size() != 2 or not halves[0].is_valid_int() or not halves[1].is_valid_int():
		return -1
	if int(halves[0]) < 0 or int(halves[1]) < 0:
		return -1
	return int(halves[0])


## Why this addon cannot play the stream a handshake_reply's [param fields] describe: {code,
## message} with code version_mismatch (another major protocol version) or unsupported (a pixel
## format other than rgb8); {} when it can.
static func check_reply(fields: Dictionary) -> Dictionary:
	var theirs: String = fields["protocol_version"]
	if major_of(theirs) != VERSION_MAJOR:
		var behind := "runtime" if major_of(theirs) < VERSION_MAJOR else "addon"
		var message := (
			(
				"the runtime speaks protocol %s and this addon speaks %s: the major versions "
				+ "differ, so they cannot talk; update the %s"
			)
			% [theirs, VERSION, behind]
		)
		return {"code": "version_mismatch", "message": message}
	if fields["pixel_format"] != PIXEL_FORMAT:
		var streams := "the runtime streams %s; this addon shows rgb8" % fields["pixel_format"]
		return {"code": "unsupported", "message": streams}
	return {}


## The base prompt of a prompt map: its top-level [code]base = "..."[/code], or "" (a basic
## string only; the runtime's TOML parser is the authority).
static func base_prompt_of(prompt_map: String) -> String:
	var pattern := '(?m)^\\s*base\\s*=\\s*"((?:[^"\\\\]|\\\\.)*)"'
	var found := RegEx.create_from_string(pattern).search(prompt_map)
	return found.get_string(1).c_unescape() if found != null else ""


## Why [param event_type] and [param payload] cannot be an event; "" when they can.
static func check_event(event_type: String, payload: Dictionary) -> String:
	if event_type.strip_edges() == "":
		return 'push_event needs an event type, e.g. "zombie_appears"'
	for key: Variant in payload:
		if typeof(key) != TYPE_STRING and typeof(key) != TYPE_STRING_NAME:
			return "event %s: payload keys must be strings, got %s" % [event_type, str(key)]
		var kind := typeof(payload[key])
		if kind not in [TYPE_STRING, TYPE_STRING_NAME, TYPE_INT, TYPE_FLOAT, TYPE_BOOL]:
			return (
				"event %s: payload[%s] is a %s; values must be String, int, float or bool"
				% [event_type, key, type_string(kind)]
			)
	return ""


## The [code]handshake[/code] map. [param noise_seed] < 0 asks for a random seed. [param model]:
## the served model to stream from (settings.model); "" = the runtime's default model.
static func handshake(
	p_prompt: String,
	prompt_map: String,
	noise_seed: int,
	credits: int,
	auth_token: String,
	resume_token: String,
	v2v := false,
	strength := 0.5,
	model := ""
) -> Dictionary:
	return {
		"type": "handshake",
		"protocol_version": VERSION,
		"client_name": CLIENT_NAME,
		"client_version": CLIENT_VERSION,
		"capabilities": {"pixel_formats": [PIXEL_FORMAT], "v2v": v2v, "credits": credits},
		"auth_token": auth_token,
		"settings":
		{
			"model": model,
			"prompt": p_prompt,
			"prompt_map": prompt_map,
			"seed": noise_seed if noise_seed >= 0 else null,
			"strength": strength,
		},
		"resume_token": resume_token,
	}


static func event(event_id: int, event_type: String, payload: Dictionary) -> Dictionary:
	var values := {}
	for key: Variant in payload:
		values[String(key)] = payload[key]
	return {
		"type": "event",
		"event_id": event_id,
		"event_type": event_type,
		"payload": values,
		"client_time_us": int(Time.get_unix_time_from_system() * 1e6),
	}


static func set_prompt(event_id: int, text: String) -> Dictionary:
	return {"type": "set_prompt", "event_id": event_id, "text": text}


## The [code]source_frame[/code] map (video-to-video; its pixels go as a second part, width x
## height x 3 bytes, rgb8). [param strength] < 0 sends nil: keep the session's strength.
static func source_frame(
	index: int, width: int, height: int, strength: float, anchor: bool
) -> Dictionary:
	return {
		"type": "source_frame",
		"frame_index": index,
		"width": width,
		"height": height,
		"pixel_format": PIXEL_FORMAT,
		"strength": strength if strength >= 0.0 else null,
		"anchor": anchor,
	}


static func credit(n: int) -> Dictionary:
	return {"type": "credit", "n": n}


static func close(reason: String) -> Dictionary:
	return {"type": "close", "reason": reason}


## [param map] as the one part of a message, or an empty Array when it has no msgpack form.
static func encode(map: Dictionary) -> Array[PackedByteArray]:
	var packed := MsgPack.encode(map)
	if not packed.ok:
		return [] as Array[PackedByteArray]
	return [packed.value] as Array[PackedByteArray]


static func _check_fields(type: String, fields: Dictionary) -> String:
	var schema: Dictionary = SCHEMA[type]
	for key: String in schema:
		var want: int = schema[key]
		var value: Variant = fields.get(key)
		if value == null:
			return "%s has no %s" % [type, key]
		if want == TYPE_FLOAT and typeof(value) == TYPE_INT:
			fields[key] = float(value)
		elif typeof(value) != want:
			return (
				"%s.%s is a %s, not a %s"
				% [type, key, type_string(typeof(value)), type_string(want)]
			)
		elif want == TYPE_INT and value < 0 and key not in SIGNED_FIELDS:
			return "%s.%s is %d; it must be >= 0" % [type, key, value]
	return ""


static func _check_frame(fields: Dictionary, parts: Array[PackedByteArray]) -> String:
	var w: int = fields["width"]
	var h: int = fields["height"]
	if fields["pixel_format"] != PIXEL_FORMAT:
		return "frame pixel_format is %s; this addon reads rgb8" % fields["pixel_format"]
	if w < 1 or h < 1 or w > MAX_FRAME_SIDE or h > MAX_FRAME_SIDE:
		return "frame size %dx%d is out of range" % [w, h]
	if typeof(fields["source_index"]) != TYPE_INT:
		return (
			"frame.source_index is a %s, not an int" % type_string(typeof(fields["source_index"]))
		)
	if parts.size() != 2:
		return "a frame has %d parts; it needs 2 (the map, then the pixels)" % parts.size()
	if parts[1].size() != w * h * 3:
		return (
			"frame %d: %d pixel bytes for %dx%d rgb8 (expected %d)"
			% [fields["frame_index"], parts[1].size(), w, h, w * h * 3]
		)
	return ""
