## Runs every test suite of the addon in the headless engine and quits with 0 when all pass, 1
## otherwise. Prints one line per test and a closing "N passed, N failed" line.
##
## tools/godot-headless --path engine_plugins/godot -s res://tests/run_tests.gd
extends SceneTree

const SUITES: Array[String] = [
	"res://tests/test_msgpack.gd",
	"res://tests/test_zmtp_codec.gd",
	"res://tests/test_zmtp_client.gd",
	"res://tests/test_protocol.gd",
	"res://tests/test_frame_player.gd",
	"res://tests/test_session.gd",
	"res://tests/test_session_failures.gd",
	"res://tests/test_session_parts.gd",
	"res://tests/test_source_sender.gd",
	"res://tests/test_session_v2v.gd",
	"res://tests/test_recording_writer.gd",
]


func _initialize() -> void:
	Engine.max_fps = 250  # the tests wait frame by frame: do not spin a shared CPU
	_run.call_deferred()


func _run() -> void:
	var passed := 0
	var failed := 0
	for path in SUITES:
		var script: GDScript = load(path)
		if script == null or not script.can_instantiate():
			print("FAIL %s: the script does not load (see the errors above)" % path)
			failed += 1
			continue
		var suite: RefCounted = script.new()
		suite.tree = self
		for method: Dictionary in script.get_script_method_list():
			var name: String = method["name"]
			if not name.begins_with("test_"):
				continue
			suite.failures.clear()
			await Callable(suite, name).call()
			var label := "%s:%s" % [path.get_file().get_basename(), name]
			if suite.failures.is_empty():
				print("PASS ", label)
				passed += 1
			else:
				print("FAIL %s: %s" % [label, "; ".join(suite.failures)])
				failed += 1
	print("%d passed, %d failed" % [passed, failed])
	quit(0 if failed == 0 and passed > 0 else 1)
