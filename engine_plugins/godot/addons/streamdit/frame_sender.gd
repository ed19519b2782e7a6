@icon("res://addons/streamdit/icon.svg")
## Sends what a viewport shows to a [StreamDiTSession] as video-to-video source frames, at
## [member send_rate_hz], so the runtime restyles the game's own render live (the session needs
## [member StreamDiTSession.v2v] on). Each frame is taken after the engine has drawn it
## ([signal RenderingServer.frame_post_draw]) and goes through
## [method StreamDiTSession.send_frame] (converted to the stream's size, rgb8). Each send reads
## the picture back from the GPU ([method Texture2D.get_image]), which waits for the renderer.
##
## The headless engine ([code]--headless[/code]) draws nothing: there, [signal error] says so
## (no_renderer) once, and the game can still call [method StreamDiTSession.send_frame] with
## Images it makes itself.
class_name StreamDiTFrameSender
extends Node

## A frame of the viewport went out as source frame [param index] (the frames that restyle it carry
## it as info.source_index in [signal StreamDiTSession.frame_received]).
signal frame_sent(index: int)
## Something went wrong; [param message] says what to check. Codes: bad_settings, no_renderer.
signal error(code: String, message: String)

const Session := preload("res://addons/streamdit/session.gd")

## The session whose stream restyles the viewport.
@export var session: Session
## The viewport to send (e.g. a SubViewport); empty = the one this node is in (the game window).
@export var viewport: Viewport
## Source frames per second; 0 = the stream's own frame rate (its handshake reply's fps).
@export_range(0.0, 120.0, 0.5, "suffix:Hz") var send_rate_hz := 0.0
## Send while true; turn off to pause without removing the node.
@export var sending := true

## Frames this node sent.
var frames_sent := 0

var _next_due_us := -1
var _reported: Dictionary = {}


func _enter_tree() -> void:
	RenderingServer.frame_post_draw.connect(_on_frame_drawn)


func _exit_tree() -> void:
	RenderingServer.frame_post_draw.disconnect(_on_frame_drawn)


## True when a frame is due at [param now_us] (Time.get_ticks_usec()) for [param rate_hz] frames
## per second; each true moves the due time one period on, never more than one period behind (a
## slow game does not send in bursts).
func due(now_us: int, rate_hz: float) -> bool:
	if rate_hz <= 0.0:
		return false
	var period := int(1e6 / rate_hz)
	if _next_due_us >= 0 and now_us < _next_due_us:
		return false
	var behind := _next_due_us < 0 or now_us - _next_due_us >= period
	_next_due_us = now_us + period if behind else _next_due_us + period
	return true


## Problems are reported from the first game frame on (after every node's _ready, so a handler
## connected there hears them), once each.
func _process(_delta: float) -> void:
	if not sending:
		return
	if session == null:
		_report_once("bad_settings", "StreamDiTFrameSender has no session: set its session")
	elif DisplayServer.get_name() == "headless":
		var why := "the engine runs headless: it draws no pixels to send. Run it with a renderer"
		_report_once("no_renderer", why + ", or call session.send_frame(image) with your Images")


func _on_frame_drawn() -> void:
	if not sending or session == null or session.state != Session.State.STREAMING:
		return
	if DisplayServer.get_name() == "headless":
		return
	var rate := send_rate_hz if send_rate_hz > 0.0 else float(session.session_info["fps"])
	if not due(Time.get_ticks_usec(), rate):
		return
	var source := viewport if viewport != null else get_viewport()
	var index := session.send_frame(source.get_texture().get_image())
	if index >= 0:
		frames_sent += 1
		frame_sent.emit(index)


func _report_once(code: String, message: String) -> void:
	if not _reported.has(code):
		_reported[code] = true
		error.emit(code, message)
