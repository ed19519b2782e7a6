## A [StreamDiTSession]'s playback: the [StreamDiTFramePlayer] that shows received frames at the
## stream's pace, and the prompt in effect for each event id (from the handshake and the runtime's
## event_ack messages), so each shown frame's info can name its prompt.
class_name StreamDiTSessionPlayback
extends RefCounted

const FramePlayer := preload("res://addons/streamdit/frame_player.gd")
const Protocol := preload("res://addons/streamdit/protocol.gd")

## The player; its texture is the session's, the same object for the node's whole life.
var player := FramePlayer.new()

var _prompts: Dictionary = {}


## Starts playing the stream a handshake reply [param reply] describes. Frames queued from an
## earlier connection are forgotten (their credits went with it). A new (not resumed) session knows
## one prompt: [param base_prompt], for event id 0.
func begin(reply: Dictionary, base_prompt: String) -> void:
	player.reset(reply["next_frame_index"], reply["fps"], reply["credits"])
	player.prepare(reply["width"], reply["height"])
	if not reply["resumed"]:
		_prompts = {0: base_prompt}


## Forgets the prompts known so far (the runtime starts a new session).
func forget_prompts() -> void:
	_prompts = {}


## Notes an event_ack's fields [param ack]: the prompt of its event, once in effect.
func note_ack(ack: Dictionary) -> void:
	if ack["in_effect"]:
		_prompts[ack["event_id"]] = ack["prompt"]


## Queues the frame message [param msg] (Protocol.parse) that arrived at [param now_us]. A
## malformed one is not queued but counts as taken (it used a credit all the same): false then.
func receive(msg: Protocol.Message, now_us: int) -> bool:
	if msg.error != "":
		player.consumed += 1
		return false
	player.push(msg.fields, msg.pixels, now_us)
	return true


## Shows the frame due at [param now_us] (the newest one due; with [param smooth] false, the
## newest one received). Returns its info (frame_index, chunk_index, pts_us, event_id, width,
## height, prompt, source_index: the source frame it restyles, -1 = none), or an empty Dictionary
## when no new frame is shown.
func present(now_us: int, smooth: bool) -> Dictionary:
	player.smooth = smooth
	var f := player.present(now_us)
	if f.is_empty():
		return {}
	return {
		"frame_index": f["frame_index"],
		"chunk_index": f["chunk_index"],
		"pts_us": f["pts_us"],
		"event_id": f["event_id"],
		"width": f["width"],
		"height": f["height"],
		"prompt": _prompts.get(f["event_id"], ""),
		"source_index": f.get("source_index", -1),
	}


## The credits owed to the runtime since the last call (frames taken off the queue).
func take_consumed() -> int:
	return player.take_consumed()
