## A [StreamDiTSession]'s handshake (docs/protocol.md section 3): the prompt map it sends (read from
## the session's prompt_map_path when it starts), the resume token that continues the session after
## a reconnect, the handshake message, and the check of the runtime's reply. The session keeps the
## state and decides what to do.
class_name StreamDiTSessionHandshake
extends RefCounted

const Protocol := preload("res://addons/streamdit/protocol.gd")
## How to fix an unreadable prompt map.
const FIX_PROMPT_MAP := ": check prompt_map_path; exported games need *.toml in the export filter"

## The prompt map's TOML text; "" = the runtime's default map.
var prompt_map_text := ""
## The token that resumes the session on the next handshake; "" = start a new session.
var resume_token := ""


## Starts a new session: forgets the resume token and reads the prompt map at [param path] ("" =
## none). Returns "" or why the map cannot be read, and what to check.
func begin(path: String) -> String:
	resume_token = ""
	prompt_map_text = ""
	if path == "":
		return ""
	prompt_map_text = FileAccess.get_file_as_string(path)
	var err := FileAccess.get_open_error()
	if err == OK:
		return ""
	return "cannot read the prompt map %s (%s)%s" % [path, error_string(err), FIX_PROMPT_MAP]


## The handshake message with the session's settings: [param prompt] ("" = the map's base),
## [param noise_seed] (< 0 = random), [param credits], [param auth_token], [param v2v] (ask for
## video-to-video), its initial [param strength] in [0, 1], and [param model] (the served model to
## stream from; "" = the runtime's default).
func message(
	prompt: String,
	noise_seed: int,
	credits: int,
	auth_token: String,
	v2v: bool,
	strength: float,
	model := ""
) -> Dictionary:
	return Protocol.handshake(
		prompt, prompt_map_text, noise_seed, credits, auth_token, resume_token, v2v, strength, model
	)


## Checks the runtime's [param reply] (Protocol.check_reply) and keeps its resume token. Returns {}
## when it is accepted, or {code, message}: why the session cannot go on.
func accept(reply: Dictionary) -> Dictionary:
	var problem := Protocol.check_reply(reply)
	if problem.is_empty():
		resume_token = reply["resume_token"]
	return problem


## The prompt of event id 0 in a new session: [param prompt], or the prompt map's base when empty.
func base_prompt(prompt: String) -> String:
	return prompt if prompt != "" else Protocol.base_prompt_of(prompt_map_text)


## What the runtime's [code]closed[/code] message [param f] means for a streaming session: {} for
## the answer to the game's own close; {code, message, hard}: hard "replaced" (another connection
## resumed this session), else "closed" (the runtime forgot it: the resume token is dropped, so the
## next handshake starts a new session).
func ended(f: Dictionary) -> Dictionary:
	if f["code"] == "client_close":
		return {}
	if f["code"] == "replaced":
		var why := "another connection resumed this session (%s); this node stopped" % f["reason"]
		return {"code": "replaced", "message": why, "hard": true}
	resume_token = ""
	var ended_why := "the runtime ended the session (%s: %s)" % [f["code"], f["reason"]]
	return {"code": "closed", "message": ended_why, "hard": false}
