## Plays received frames into one [ImageTexture] at the stream's pace: the runtime sends the frames
## of a chunk together, so they wait in a short queue and each is shown when its pts comes due on a
## playout clock anchored at the first frame. [method present] takes every due frame off the queue
## and shows the newest of them; [member consumed] counts the frames taken (the credits the
## session owes the runtime), so the runtime can never get further ahead than the credits it holds.
##
## The clock re-anchors (plays the front frame now) when there is no anchor yet, after a stall (a
## late frame into an empty queue), when the front is due implausibly far ahead (the pts restarted),
## and when the queue is full while the front is not due (the game fell behind: catch up).
class_name StreamDiTFramePlayer
extends RefCounted

## No anchor: the next frame is shown at once.
const NO_BASE := -(1 << 62)
## A front frame due further ahead than this re-anchors the clock, microseconds.
const MAX_LEAD_US := 1_000_000

## The texture every frame is shown in; the same object for the player's whole life.
var texture := ImageTexture.new()
## The Image behind [member texture] (null before the first frame); kept and overwritten.
var image: Image = null
## False: show the newest frame at once instead of at its pts.
var smooth := true
## Frames received; shown; skipped (due in the same [method present] as a newer one); dropped by the
## runtime (gaps in frame_index).
var received := 0
var shown := 0
var skipped := 0
var dropped := 0
## Frames taken off the queue since [method take_consumed]: one credit each.
var consumed := 0

var _queue: Array[Dictionary] = []
var _base_us := NO_BASE
var _next_index := -1
var _interval_us := 33_333
var _capacity := 4


## Starts a stream (a new session or a resumed one): forgets queued frames and the clock.
## [param next_index] is the frame index expected next; [param fps] the stream's rate;
## [param capacity] the credits the client holds (the most frames that can be queued).
func reset(next_index: int, fps: float, capacity: int) -> void:
	_queue.clear()
	_base_us = NO_BASE
	_next_index = next_index
	_interval_us = int(1e6 / fps) if fps > 0.0 else 33_333
	_capacity = maxi(capacity, 1)


## Gives [member texture] a black image of [param width] x [param height] when it has none yet, so
## a layout can size itself before the first frame.
func prepare(width: int, height: int) -> void:
	if image == null:
		image = Image.create_empty(maxi(width, 1), maxi(height, 1), false, Image.FORMAT_RGB8)
		texture.set_image(image)


## Queues a checked frame: [param fields] of a frame message, [param pixels] its rgb8 bytes,
## [param now_us] the arrival time (Time.get_ticks_usec()).
func push(fields: Dictionary, pixels: PackedByteArray, now_us: int) -> void:
	var index: int = fields["frame_index"]
	if _next_index >= 0 and index > _next_index:
		dropped += index - _next_index
	_next_index = index + 1
	received += 1
	if _queue.is_empty() and _base_us != NO_BASE:
		if fields["pts_us"] + _base_us < now_us - _interval_us:
			_base_us = NO_BASE  # late into an empty queue (a stall): play on from this frame
	_queue.append({"fields": fields, "pixels": pixels})


## Shows the newest due frame in [member texture] and returns its fields; {} when none is due.
func present(now_us: int) -> Dictionary:
	if _queue.is_empty():
		return {}
	var front: int = _queue[0]["fields"]["pts_us"]
	var due_in := front + _base_us - now_us
	if not smooth:
		_base_us = now_us - _queue[-1]["fields"]["pts_us"]
	elif _base_us == NO_BASE or due_in > MAX_LEAD_US or (due_in > 0 and _queue.size() >= _capacity):
		_base_us = now_us - front
	var frame := {}
	while not _queue.is_empty() and _queue[0]["fields"]["pts_us"] + _base_us <= now_us:
		if not frame.is_empty():
			skipped += 1
		frame = _queue.pop_front()
		consumed += 1
	if frame.is_empty():
		return {}
	_show(frame["fields"], frame["pixels"])
	return frame["fields"]


## Returns [member consumed] and sets it to 0.
func take_consumed() -> int:
	var n := consumed
	consumed = 0
	return n


func _show(fields: Dictionary, pixels: PackedByteArray) -> void:
	var w: int = fields["width"]
	var h: int = fields["height"]
	if image == null or image.get_width() != w or image.get_height() != h:
		image = Image.create_from_data(w, h, false, Image.FORMAT_RGB8, pixels)
		texture.set_image(image)  # a new size: the same texture object, reallocated
	else:
		image.set_data(w, h, false, Image.FORMAT_RGB8, pixels)
		texture.update(image)
	shown += 1
