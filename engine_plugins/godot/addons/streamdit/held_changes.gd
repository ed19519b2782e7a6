## The events and prompt changes a [StreamDiTSession] holds while its stream is away (connecting,
## or waiting to reconnect): the newest [member capacity] of them, oldest first, sent in order once
## the handshake reply arrives.
class_name StreamDiTHeldChanges
extends RefCounted

## The most changes held; a change beyond it drops the oldest.
var capacity: int

var _held: Array[Dictionary] = []


## [param most]: how many changes to keep (the session's MAX_HELD_CHANGES).
func _init(most: int) -> void:
	capacity = most


## Holds [param message] (a protocol message: event or set_prompt), dropping the oldest beyond
## [member capacity].
func hold(message: Dictionary) -> void:
	_held.append(message)
	if _held.size() > capacity:
		_held.pop_front()


## Returns the held changes, oldest first, and holds none from now on.
func take_all() -> Array[Dictionary]:
	var held := _held
	_held = []
	return held


## How many changes are held.
func size() -> int:
	return _held.size()
