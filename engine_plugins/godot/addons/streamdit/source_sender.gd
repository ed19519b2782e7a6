## A [StreamDiTSession]'s video-to-video sender: turns the game's frames (any [Image]) into
## [code]source_frame[/code] messages (docs/protocol.md) at the session's size, rgb8, numbered
## 0, 1, 2, ... ([code]frame.source_index[/code] names the one an output restyles). The session
## sends what it builds; [StreamDiTFrameSender] feeds it a viewport.
class_name StreamDiTSourceSender
extends RefCounted

const Protocol := preload("res://addons/streamdit/protocol.gd")

## Source frames built for sending so far (this session).
var sent := 0
## The frame_index the next source frame gets.
var next_index := 0

var _told: Dictionary = {}  # the problems reported once per connection, by code and message


## Starts a new session: numbering from 0.
func reset() -> void:
	sent = 0
	next_index = 0
	_told = {}


## A new connection (or a resumed one): problems are reported again, once.
func reconnected() -> void:
	_told = {}


## The message parts of [param image] as a source frame of the session whose handshake reply is
## [param reply] (its width x height): the image is converted to rgb8 and resized (bilinear) when
## it is not already so (a copy; the game's image is left as it is). [param asked]: the session's
## v2v. [param strength]: in [0, 1] from the next chunk boundary on, or < 0 to keep the session's.
## [param anchor]: restart the stream from this frame. Returns {"index", "parts"}; or
## {"code", "message"}, a problem to report: invalid_argument for the arguments (each time),
## bad_settings without v2v and unsupported when the runtime does not serve it (each once per
## connection: {} after, so a game that sends every frame is not flooded).
func build(
	image: Image, reply: Dictionary, asked: bool, strength: float, anchor: bool
) -> Dictionary:
	if not asked:
		return _problem("bad_settings", "send_frame needs v2v = true on the session before start()")
	if not reply.get("v2v", false):
		var why := "the runtime does not serve video-to-video (handshake_reply.v2v is false)"
		return _problem("unsupported", why + "; the source frames are not sent")
	var width: int = reply["width"]
	var height: int = reply["height"]
	if image == null or image.is_empty():
		var got := "null" if image == null else "an empty one"
		return _bad("send_frame needs an Image with pixels, got " + got)
	if is_nan(strength) or strength > 1.0:
		var range_text := "in [0, 1] (0 = the source back, 1 = text-only), or -1 to keep it"
		return _bad("strength %s must be %s" % [strength, range_text])
	var rgb := image
	var fits := image.get_width() == width and image.get_height() == height
	if image.get_format() != Image.FORMAT_RGB8 or not fits or image.has_mipmaps():
		rgb = image.duplicate() as Image
		if rgb.is_compressed() and rgb.decompress() != OK:
			return _bad("send_frame cannot decompress an Image of format %d" % rgb.get_format())
		rgb.clear_mipmaps()
		rgb.convert(Image.FORMAT_RGB8)
		if not fits:
			rgb.resize(width, height, Image.INTERPOLATE_BILINEAR)
	var map := Protocol.source_frame(next_index, width, height, strength, anchor)
	var parts := Protocol.encode(map)
	parts.append(rgb.get_data())
	var index := next_index
	next_index += 1
	sent += 1
	return {"index": index, "parts": parts}


## {"code", "message"} the first time this problem comes up on this connection; {} after.
func _problem(code: String, message: String) -> Dictionary:
	if _told.has(code + message):
		return {}
	_told[code + message] = true
	return {"code": code, "message": message}


## An invalid_argument problem: reported each time (it is the caller's argument).
func _bad(message: String) -> Dictionary:
	return {"code": "invalid_argument", "message": message}
