## Video-to-video through session.gd against a scripted runtime (fake_runtime.gd) over loopback
## TCP: the handshake asks for it, send_frame sends a source_frame (map, then the pixels at the
## stream's size), frames name the source they restyle, and each problem is reported as the
## README says (once per connection for settings and the runtime's v2v, each time for arguments).
extends "res://tests/session_case.gd"


func test_send_frame_sends_a_source_frame_and_frames_name_it() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	s.v2v = true
	s.strength = 0.25
	var rec := Recorder.new(s)
	var image := Image.create(8, 8, false, Image.FORMAT_RGBA8)
	image.fill(Color8(10, 20, 30))
	check_eq(s.send_frame(image), -1, "not streaming yet: not sent")
	await _streaming(s, fake, rec)
	var hs: Dictionary = fake.of_type("handshake")[0]
	check_eq(hs["capabilities"]["v2v"], true, "the handshake asks for v2v")
	check_eq(hs["settings"]["strength"], 0.25, "with the session's strength")
	check_eq(s.send_frame(image, -1.0, true), -1, "the reply said v2v false")
	check_eq(s.send_frame(image), -1, "still not sent")
	check_eq(rec.codes(), ["unsupported"] as Array[String], "reported once")
	s.close()
	fake.drop()
	s.start()
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 2)
	fake.send_reply({"v2v": true})
	await _until(fake, func() -> bool: return rec.connects == 2)
	check_eq(s.send_frame(image, -1.0, true), 0, "the first index")
	check_eq(s.send_frame(image, 0.75), 1, "the second")
	await _until(fake, func() -> bool: return fake.of_type("source_frame").size() == 2)
	var first: Dictionary = fake.of_type("source_frame")[0]
	var second: Dictionary = fake.of_type("source_frame")[1]
	check_eq([first["frame_index"], first["width"], first["height"]], [0, 4, 2], "index, size")
	check_eq([first["pixel_format"], first["strength"], first["anchor"]], ["rgb8", null, true], "1")
	check_eq([second["frame_index"], second["strength"], second["anchor"]], [1, 0.75, false], "2")
	var pixels: PackedByteArray = first.get("_part2", PackedByteArray())
	check_eq(pixels.size(), 4 * 2 * 3, "the pixels: rgb8 at the stream's 4x2")
	check_eq([pixels[0], pixels[1], pixels[2]], [10, 20, 30], "the image's colour")
	check_eq(s.source_frames_sent, 2, "source_frames_sent")
	fake.send_frame(0, 0, 7, 1)
	fake.send_frame(1)
	await _until(fake, func() -> bool: return rec.frames.size() == 2)
	var named: Array[int] = []
	for info in rec.frames:
		named.append(info["source_index"])
	check_eq(named, [1, -1] as Array[int], "source_index, -1 when the frame names none")
	check_eq(rec.codes(), ["unsupported"] as Array[String], "no other error")
	_finish(s, fake)


func test_problems_of_send_frame() -> void:
	var fake := FakeRuntime.new()
	var s := _session(fake.start())
	var rec := Recorder.new(s)
	await _streaming(s, fake, rec)
	var image := Image.create(4, 2, false, Image.FORMAT_RGB8)
	check_eq(s.send_frame(image), -1, "v2v off")
	check_eq(s.send_frame(image), -1, "v2v off, again")
	check_eq(rec.codes(), ["bad_settings"] as Array[String], "reported once")
	check(rec.errors[0][1].contains("v2v = true"), "names the fix")
	s.v2v = true
	s.close()
	fake.drop()
	s.start()
	await _until(fake, func() -> bool: return fake.of_type("handshake").size() == 2)
	fake.send_reply({"v2v": true})
	await _until(fake, func() -> bool: return rec.connects == 2)
	check_eq(s.send_frame(image, 2.0), -1, "strength 2")
	check_eq(s.send_frame(image, 2.0), -1, "strength 2 again")
	check_eq(s.send_frame(Image.new()), -1, "an empty image")
	var codes := rec.codes().slice(1)
	check_eq(codes, ["invalid_argument", "invalid_argument", "invalid_argument"], "each time")
	check_eq(s.last_error.get("fatal"), false, "not fatal")
	check_eq(s.state, Session.State.STREAMING, "the stream goes on")
	check_eq(s.send_frame(image), 0, "a good frame after them gets index 0")
	check_eq(s.source_frames_sent, 1, "only it was sent")
	_finish(s, fake)
