@tool
## Registers the StreamDiTSession, StreamDiTRecorder and StreamDiTFrameSender nodes in the Create
## Node dialog while the plugin is enabled (Project > Project Settings > Plugins > StreamDiT).
extends EditorPlugin

const TYPES := {
	"StreamDiTSession": "res://addons/streamdit/session.gd",
	"StreamDiTRecorder": "res://addons/streamdit/recorder.gd",
	"StreamDiTFrameSender": "res://addons/streamdit/frame_sender.gd",
}
const ICON_PATH := "res://addons/streamdit/icon.svg"


func _enter_tree() -> void:
	# The first time a project opens, the plugin starts before icon.svg is imported.
	var icon: Texture2D = null
	if ResourceLoader.exists(ICON_PATH):
		icon = load(ICON_PATH)
	else:
		icon = EditorInterface.get_editor_theme().get_icon("Node", "EditorIcons")
	for type_name: String in TYPES:
		add_custom_type(type_name, "Node", load(TYPES[type_name]), icon)


func _exit_tree() -> void:
	for type_name: String in TYPES:
		remove_custom_type(type_name)
