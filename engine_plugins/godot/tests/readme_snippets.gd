## Loads and runs the README's GDScript blocks, for tests/test_godot_readme.py, which writes each
## block to res://readme_snippets/NAME.gd. Loading a script parses and type-checks it against the
## addon's classes (the project must have been imported first, for the class cache). A script that
## extends a Node is then run: its node gets one child per [code]$Name[/code] it uses, of the class
## of that name (a StreamDiTSession for [code]$StreamDiTSession[/code]; sessions do not
## autostart), enters the tree, and after two frames each of its methods named [code]_on_*[/code]
## that takes no argument is called, as the game would. Writes results.json beside the snippets:
## {NAME: {loaded, ran, calls, children: {Name: {class, texture}}}}.
##
## godot-headless --path PROJECT -s res://tests/readme_snippets.gd
## Exit codes: 0 every snippet loaded (and ran, where it is a Node), 1 otherwise.
extends SceneTree

const DIR := "res://readme_snippets"


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	var results := {}
	var ok := true
	for file in DirAccess.get_files_at(DIR):
		if file.get_extension() != "gd":
			continue
		var result := await _check(DIR.path_join(file))
		results[file.get_basename()] = result
		ok = ok and result["loaded"] and result["ran"]
		print("SNIPPET %s %s" % [file, "ok" if result["loaded"] and result["ran"] else "FAILED"])
	var out := FileAccess.open(DIR.path_join("results.json"), FileAccess.WRITE)
	out.store_string(JSON.stringify(results, "  "))
	out.close()
	quit(0 if ok and not results.is_empty() else 1)


func _check(path: String) -> Dictionary:
	var result := {"loaded": false, "ran": false, "calls": [], "children": {}}
	var script: GDScript = load(path)
	if script == null or not script.can_instantiate():
		return result
	result["loaded"] = true
	if not ClassDB.is_parent_class(script.get_instance_base_type(), "Node"):
		result["ran"] = true  # a script that is not a node is only loaded
		return result
	var node: Node = ClassDB.instantiate(script.get_instance_base_type())
	node.set_script(script)
	for child_name in _node_paths(script.source_code):
		var child := _new_node(child_name)
		if child == null:
			push_error("%s uses $%s, which names no class" % [path, child_name])
			node.free()
			return result
		child.name = child_name
		if "autostart" in child:
			child.set("autostart", false)
		node.add_child(child)
	root.add_child(node)
	await process_frame
	await process_frame
	for method: Dictionary in script.get_script_method_list():
		if method["name"].begins_with("_on_") and method["args"].is_empty():
			node.call(method["name"])
			result["calls"].append(method["name"])
	await process_frame
	for child in node.get_children():
		var texture: Variant = child.get("texture")
		result["children"][String(child.name)] = {
			"class": _class_of(child), "texture": texture != null
		}
	node.queue_free()
	await process_frame
	result["ran"] = true
	return result


## The node names a script reaches with $Name, in order of first use.
func _node_paths(source: String) -> Array[String]:
	var names: Array[String] = []
	for found in RegEx.create_from_string("\\$(\\w+)").search_all(source):
		if not names.has(found.get_string(1)):
			names.append(found.get_string(1))
	return names


## A node of the engine class or the global script class [param type_name], or null.
func _new_node(type_name: String) -> Node:
	if ClassDB.class_exists(type_name) and ClassDB.can_instantiate(type_name):
		return ClassDB.instantiate(type_name)
	for entry: Dictionary in ProjectSettings.get_global_class_list():
		if entry["class"] == type_name:
			return load(entry["path"]).new()
	return null


func _class_of(node: Node) -> String:
	var script: Script = node.get_script()
	if script != null and script.get_global_name() != "":
		return script.get_global_name()
	return node.get_class()
