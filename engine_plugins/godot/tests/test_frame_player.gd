## frame_player.gd with a scripted clock: frames shown at their pts, credits for every frame taken,
## the clock's re-anchoring (stall, restart, full queue), and the one texture updated in place.
extends "res://tests/test_case.gd"

const FramePlayer := preload("res://addons/streamdit/frame_player.gd")

## 10 FPS: frame i has pts i * 100 ms.
const FPS := 10.0
const T := 5_000_000


func test_frames_play_at_their_pts() -> void:
	var p := _player(4)
	p.push(_fields(0), _pixels(0), T)
	p.push(_fields(1), _pixels(1), T)
	check_eq(p.present(T).get("frame_index"), 0, "the first frame at once")
	check_eq(p.present(T + 50_000), {}, "the second is not due yet")
	check_eq(p.take_consumed(), 1, "one credit per frame taken")
	check_eq(p.present(T + 100_000).get("frame_index"), 1, "the second 100 ms later")
	check_eq(p.image.get_data()[0], 1, "its pixels are in the image")
	check_eq([p.received, p.shown, p.skipped, p.take_consumed()], [2, 2, 0, 1], "counts")


func test_a_slow_game_shows_the_newest_due_frame() -> void:
	var p := _player(4)
	for i in 3:
		p.push(_fields(i), _pixels(i), T)
	p.present(T)
	check_eq(p.present(T + 250_000).get("frame_index"), 2, "newest due")
	check_eq([p.shown, p.skipped, p.take_consumed()], [2, 1, 3], "frame 1 skipped, credited")


func test_a_stall_does_not_flash_the_burst_by() -> void:
	var p := _player(4)
	p.push(_fields(0), _pixels(0), T)
	p.present(T)
	p.push(_fields(1), _pixels(1), T + 500_000)  # 400 ms late into an empty queue
	p.push(_fields(2), _pixels(2), T + 500_000)
	check_eq(p.present(T + 500_000).get("frame_index"), 1, "the late frame at once")
	check_eq(p.present(T + 550_000), {}, "its chunk mate at the normal pace")
	check_eq(p.present(T + 600_000).get("frame_index"), 2, "100 ms later")
	check_eq(p.skipped, 0, "nothing skipped")


func test_a_full_queue_catches_up() -> void:
	var p := _player(2)
	p.push(_fields(0), _pixels(0), T)
	p.present(T)
	p.push(_fields(3), _pixels(3), T + 10_000)
	p.push(_fields(4), _pixels(4), T + 10_000)
	check_eq(p.present(T + 10_000).get("frame_index"), 3, "full (2 credits): front now")
	check_eq(p.dropped, 2, "frames 1 and 2 never came")


func test_pts_restart_and_no_smoothing() -> void:
	var p := _player(4)
	p.push(_fields(0, 50_000_000), _pixels(0), T)
	p.present(T)
	p.push(_fields(1, 90_000_000), _pixels(1), T + 100_000)
	check_eq(p.present(T + 100_000).get("frame_index"), 1, "40 s ahead: re-anchored, shown")
	p.smooth = false
	for i in range(2, 5):
		p.push(_fields(i, 90_000_000 + i * 100_000), _pixels(i), T + 200_000)
	check_eq(p.present(T + 200_000).get("frame_index"), 4, "no smoothing: the newest at once")
	check_eq(p.skipped, 2, "the others skipped")


func test_one_texture_updated_in_place_and_resized() -> void:
	var p := FramePlayer.new()
	var texture := p.texture
	p.reset(0, FPS, 4)
	p.prepare(2, 1)
	check_eq(texture.get_size(), Vector2(2, 1), "sized before the first frame")
	check_eq(p.image.get_data(), PackedByteArray([0, 0, 0, 0, 0, 0]), "black")
	p.push(_fields(0), _pixels(9), T)
	p.present(T)
	var image := p.image
	p.push(_fields(1), _pixels(8), T)
	p.present(T + 100_000)
	check(p.image == image, "the same Image, overwritten")
	var big := _fields(2)
	big["width"] = 4
	big["height"] = 2
	var pixels := PackedByteArray()
	pixels.resize(4 * 2 * 3)
	p.push(big, pixels, T)
	p.present(T + 200_000)
	check(p.texture == texture, "the same texture object")
	check_eq(texture.get_size(), Vector2(4, 2), "resized")


func test_reset_forgets_queued_frames() -> void:
	var p := _player(4)
	p.push(_fields(0), _pixels(0), T)
	p.push(_fields(1), _pixels(1), T)
	p.reset(7, FPS, 4)
	check_eq(p.present(T), {}, "nothing queued after a reset")
	p.push(_fields(7), _pixels(7), T)
	check_eq(p.dropped, 0, "numbering continues at the reset's index")


func _player(capacity: int) -> FramePlayer:
	var p := FramePlayer.new()
	p.reset(0, FPS, capacity)
	return p


## A 2x1 frame's fields; pts from the index at 10 FPS unless given.
func _fields(index: int, pts_us := -1) -> Dictionary:
	return {
		"frame_index": index,
		"chunk_index": index / 2,
		"pts_us": index * 100_000 if pts_us < 0 else pts_us,
		"event_id": 0,
		"width": 2,
		"height": 1,
	}


func _pixels(fill: int) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(2 * 1 * 3)
	out.fill(fill)
	return out
