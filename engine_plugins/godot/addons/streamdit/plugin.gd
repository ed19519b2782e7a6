@tool
## Registers the StreamDiTSession node in the Create Node dialog while the plugin is enabled
## (Project > Project Settings > Plugins > StreamDiT).
extends EditorPlugin

const TYPE_NAME := "StreamDiTSession"


func _enter_tree() -> void:
	var script: Script = load("res://addons/streamdit/session.gd")
	var icon: Texture2D = load("res://addons/streamdit/icon.svg")
	add_custom_type(TYPE_NAME, "Node", script, icon)


func _exit_tree() -> void:
	remove_custom_type(TYPE_NAME)
