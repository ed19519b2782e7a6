## Base of the test suites: each [code]test_*[/code] method is one test; [code]run_tests.gd[/code]
## finds and runs them. A test that never calls [method check] still counts as run.
extends RefCounted

## The running SceneTree, for tests that wait for frames.
var tree: SceneTree
## Failures of the current test; the runner empties it before each one.
var failures: Array[String] = []


## Records a failure unless [param condition] holds.
func check(condition: bool, what: String) -> void:
	if not condition:
		failures.append(what)


## Records a failure unless [param actual] equals [param expected] (same type and value).
func check_eq(actual: Variant, expected: Variant, what: String) -> void:
	if typeof(actual) != typeof(expected) or actual != expected:
		(
			failures
			. append(
				(
					"%s: got %s (%s), expected %s (%s)"
					% [
						what,
						_short(actual),
						type_string(typeof(actual)),
						_short(expected),
						type_string(typeof(expected)),
					]
				)
			)
		)


## Waits one frame.
func next_frame() -> void:
	await tree.process_frame


func _short(value: Variant) -> String:
	var text := str(value)
	return text if text.length() <= 120 else text.substr(0, 117) + "..."
