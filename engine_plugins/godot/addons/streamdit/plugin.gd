@tool
## Registers the StreamDiTSession node in the Create Node dialog while the plugin is enabled
## (Project > Project Settings > Plugins > StreamDiT).
extends EditorPlugin

const TYPE_NAME := "StreamDiTSession"
const SCRIPT_PATH := "res://addons/streamdit/session.gd"
const ICON_PATH := "res://addons/streamdit/icon.svg"


func _enter_tree() -> void:
	# The first time a project opens, the plugin starts before icon.svg is imported.
	var icon: Texture2D = null
	if ResourceLoader.exists(ICON_PATH):
		icon = load(ICON_PATH)
	else:
		icon = EditorInterface.get_editor_theme().get_icon("Node", "EditorIcons")
	add_custom_type(TYPE_NAME, "Node", load(SCRIPT_PATH), icon)


func _exit_tree() -> void:
	remove_custom_type(TYPE_NAME)
