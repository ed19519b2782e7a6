// A StreamDiT session over WebSocket (docs/protocol.md section 10), for the viewer page. No build step.
//
// Each protocol message is one binary WebSocket message holding a msgpack map; a "frame" map is followed by
// one binary message of pixels (width * height * 3 bytes, RGB). The msgpack codec is @msgpack/msgpack
// (vendor/msgpack.min.js). Credits: one goes back for every frame handed to onFrame.
"use strict";

const PROTOCOL_VERSION = "1.0";

class StreamSession {
  // url: ws://HOST:PORT/v1/session. opts: prompt, promptMap, seed, model ("" = the runtime's default), credits,
  // authToken, and the callbacks
  // onReply(reply), onFrame(frame, pixels: Uint8Array), onAck(ack), onError(error), onStats(stats),
  // onClosed(code, reason).
  constructor(url, opts) {
    this.url = url;
    this.opts = Object.assign({ prompt: "", promptMap: "", seed: null, model: "", credits: 4, authToken: "" },
      opts || {});
    this.reply = null;
    this.nextId = 0;
    this.pending = new Map(); // event_id -> {resolve, reject, sentAt}
    this.head = null; // a frame map waiting for its pixels
    this.closed = false;
    this.ws = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      let settled = false;
      ws.onopen = () => this._send({
        type: "handshake", protocol_version: PROTOCOL_VERSION, client_name: "streamdit-viewer",
        client_version: "1", auth_token: this.opts.authToken,
        capabilities: { pixel_formats: ["rgb8"], v2v: false, credits: this.opts.credits },
        settings: { prompt: this.opts.prompt, prompt_map: this.opts.promptMap, seed: this.opts.seed,
          model: this.opts.model },
      });
      ws.onmessage = (ev) => {
        if (!(ev.data instanceof ArrayBuffer)) return;
        if (this.head !== null) {
          const frame = this.head;
          this.head = null;
          this._call("onFrame", frame, new Uint8Array(ev.data));
          this._send({ type: "credit", n: 1 });
          return;
        }
        const msg = MessagePack.decode(new Uint8Array(ev.data));
        if (msg.type === "frame") { this.head = msg; return; }
        if (msg.type === "handshake_reply") {
          this.reply = msg;
          settled = true;
          this._call("onReply", msg);
          resolve(msg);
        } else if (msg.type === "event_ack") {
          const p = this.pending.get(msg.event_id);
          if (p) { this.pending.delete(msg.event_id); msg.sent_at = p.sentAt; p.resolve(msg); }
          this._call("onAck", msg);
        } else if (msg.type === "error") {
          const p = msg.event_id ? this.pending.get(msg.event_id) : null;
          if (p) { this.pending.delete(msg.event_id); p.reject(new Error(`${msg.code}: ${msg.message}`)); }
          if (!settled && msg.fatal) { settled = true; reject(new Error(`${msg.code}: ${msg.message}`)); }
          this._call("onError", msg);
        } else if (msg.type === "stats") {
          this._call("onStats", msg);
        } else if (msg.type === "closed") {
          this.closed = true;
          this._call("onClosed", msg.code, msg.reason);
        }
      };
      ws.onclose = (ev) => {
        const why = ev.reason || `WebSocket closed (${ev.code})`;
        for (const p of this.pending.values()) p.reject(new Error(why));
        this.pending.clear();
        if (!settled) { settled = true; reject(new Error(`no session: ${why}; is the runtime running?`)); }
        if (!this.closed) { this.closed = true; this._call("onClosed", "disconnected", why); }
      };
    });
  }

  // Send a game event; resolves with its event_ack (sent_at: performance.now() when it was sent).
  pushEvent(eventType, payload) {
    return this._change({ type: "event", event_type: eventType, payload: payload || {},
                          client_time_us: Math.round(performance.now() * 1000) });
  }

  // Replace the base prompt (weight in (0, 1], transition over transitionSteps chunks).
  setPrompt(text, transitionSteps, weight) {
    return this._change({ type: "set_prompt", text: text, transition_steps: transitionSteps || 0,
                          weight: weight === undefined ? 1.0 : weight });
  }

  close(reason) {
    if (this.ws === null) return;
    if (this.ws.readyState === WebSocket.OPEN && !this.closed) this._send({ type: "close", reason: reason || "" });
    this.closed = true;
    const ws = this.ws;
    setTimeout(() => ws.close(1000, "done"), 200);
  }

  _change(msg) {
    msg.event_id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(msg.event_id, { resolve, reject, sentAt: performance.now() });
      this._send(msg);
    });
  }

  _send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(MessagePack.encode(msg));
  }

  _call(name, ...args) {
    const fn = this.opts[name];
    if (fn) fn(...args);
  }
}

// The viewer's helper channel (ws://HOST:PORT/v1/tools, JSON): prompt map descriptions and cutscene checks
// with the runtime's own parser. One request at a time, answered in order.
class Tools {
  constructor(url, authToken) {
    this.url = url;
    this.authToken = authToken || "";
    this.ws = null;
    this.queue = [];
  }

  _open() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return this.ready;
    this.ws = new WebSocket(this.url);
    this.ready = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onclose = (ev) => {
        const err = new Error(ev.reason || `the viewer's helper channel closed (${ev.code})`);
        reject(err);
        for (const q of this.queue) q.reject(err);
        this.queue = [];
      };
    });
    this.ws.onmessage = (ev) => {
      const q = this.queue.shift();
      if (!q) return;
      const reply = JSON.parse(ev.data);
      if (reply.type === "error") q.reject(new Error(reply.message)); else q.resolve(reply);
    };
    return this.ready;
  }

  async request(body) {
    await this._open();
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.ws.send(JSON.stringify(Object.assign({ auth_token: this.authToken }, body)));
    });
  }

  // model: the served model whose frame rate and chunk length parse the map ("" = the default model)
  promptMap(text, model) { return this.request({ type: "prompt_map", text: text || "", model: model || "" }); }

  models() { return this.request({ type: "models" }); }

  cutscene(toml) { return this.request({ type: "cutscene", toml: toml }); }
}
