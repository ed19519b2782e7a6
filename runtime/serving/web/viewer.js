// The live view: one session drawn on a canvas (nearest-neighbour scaling), the prompt in effect, one button
// per event of the session's prompt map, a free prompt box, and live FPS, event-to-frame latency and drops.
// cutscene.js plays timelines through Viewer.connect() and Viewer.frameHook.
"use strict";

const $ = (id) => document.getElementById(id);
const SESSION_URL = `ws://${location.host}/v1/session`;
const TOOLS_URL = `ws://${location.host}/v1/tools`;
const DISPLAY_PX = 512; // the canvas is scaled by a whole factor up to this many pixels a side

const Viewer = {
  session: null,
  tools: null,
  mapInfo: null, // the session's prompt map as /v1/tools describes it
  prompts: new Map(), // event_id -> the prompt it put in effect (0: the base prompt)
  sentAt: new Map(), // event_id -> performance.now() when it was pushed, until its first frame
  arrivals: [], // performance.now() of recent frames (FPS)
  latencies: [], // recent event-to-frame latencies, milliseconds
  lastIndex: -1,
  gaps: 0, // frames missing from the index sequence (dropped for lack of credit)
  serverDrops: 0,
  frames: 0,
  payloads: {}, // event type -> () => the payload its boxes hold now
  frameHook: null, // cutscene.js: called with every frame after it is drawn
  off: document.createElement("canvas"),
  image: null,

  token() { return $("token").value; },

  model() { return $("model-pick").value; },

  // Fill the model picker from the runtime's served models (once; the default first), picking `wanted` when
  // it is served (the page's #model=NAME).
  async listModels(wanted) {
    const pick = $("model-pick");
    if (pick.options.length) return;
    const reply = await this.tools.models();
    for (const info of reply.models) {
      const opt = document.createElement("option");
      opt.value = info.name;
      opt.textContent = `${info.name} (${info.width}x${info.height}, buffer ${info.buffer_frames})`;
      pick.append(opt);
    }
    pick.value = reply.models.some((i) => i.name === wanted) ? wanted : reply.default;
  },

  status(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = "status " + (kind || "");
  },

  // (Re)connect with handshake settings {prompt, promptMap, seed}; resolves with the handshake reply.
  async connect(settings) {
    settings = settings || {};
    if (this.session) this.session.close("reconnect");
    this.tools = new Tools(TOOLS_URL, this.token());
    await this.listModels(new URLSearchParams(location.hash.slice(1)).get("model") || "");
    this.prompts.clear();
    this.sentAt.clear();
    this.lastIndex = -1;
    this.gaps = 0;
    this.serverDrops = 0;
    this.frames = 0;
    const s = new StreamSession(SESSION_URL, {
      prompt: settings.prompt || "", promptMap: settings.promptMap || "", seed: settings.seed === undefined ? null : settings.seed,
      model: this.model(), credits: 8, authToken: this.token(),
      onFrame: (frame, pixels) => { if (s === this.session) this.onFrame(frame, pixels); },
      onStats: (st) => { if (s === this.session) this.serverDrops = st.frames_dropped; },
      onError: (err) => { if (s === this.session) this.status(`${err.code}: ${err.message}`, "error"); },
      onClosed: (code, reason) => { if (s === this.session) this.status(`closed (${code}): ${reason}`, "error"); },
    });
    this.session = s;
    this.status("connecting");
    const reply = await s.open();
    this.mapInfo = await this.tools.promptMap(settings.promptMap || "", reply.model);
    this.prompts.set(0, settings.prompt || this.mapInfo.base);
    $("model").textContent = `${reply.model}: ${reply.width}x${reply.height} px, ${reply.fps} FPS, ` +
      `${reply.frames_per_chunk} frames per chunk`;
    $("map-source").textContent = reply.prompt_map ? `prompt map ${reply.prompt_map}` : "no prompt map";
    this.renderEvents();
    this.status(`session ${reply.session_id}`, "ok");
    return reply;
  },

  onFrame(frame, pixels) {
    const now = performance.now();
    this.draw(frame.width, frame.height, pixels);
    this.frames += 1;
    if (this.lastIndex >= 0 && frame.frame_index > this.lastIndex + 1) this.gaps += frame.frame_index - this.lastIndex - 1;
    this.lastIndex = frame.frame_index;
    this.arrivals.push(now);
    while (this.arrivals.length && now - this.arrivals[0] > 2000) this.arrivals.shift();
    if (this.sentAt.has(frame.event_id)) { // the first frame that carries the event: event-to-frame latency
      this.latencies.push(now - this.sentAt.get(frame.event_id));
      if (this.latencies.length > 20) this.latencies.shift();
      this.sentAt.delete(frame.event_id);
    }
    const prompt = this.prompts.has(frame.event_id) ? this.prompts.get(frame.event_id) : `event ${frame.event_id}`;
    $("prompt").textContent = prompt;
    $("prompt").dataset.eventId = String(frame.event_id);
    $("frame").textContent = String(frame.frame_index);
    this.showFigures(now);
    if (this.frameHook) this.frameHook(frame, prompt);
  },

  draw(w, h, rgb) {
    const canvas = $("stream");
    if (!this.image || this.image.width !== w || this.image.height !== h) {
      const scale = Math.max(1, Math.floor(DISPLAY_PX / Math.max(w, h)));
      this.off.width = w;
      this.off.height = h;
      canvas.width = w * scale;
      canvas.height = h * scale;
      canvas.style.width = `${w * scale}px`;
      canvas.style.height = `${h * scale}px`;
      this.image = new ImageData(w, h);
    }
    const px = this.image.data;
    for (let i = 0, j = 0; i < w * h * 3; i += 3, j += 4) {
      px[j] = rgb[i]; px[j + 1] = rgb[i + 1]; px[j + 2] = rgb[i + 2]; px[j + 3] = 255;
    }
    this.off.getContext("2d").putImageData(this.image, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false; // nearest-neighbour: every model pixel stays a sharp square
    ctx.drawImage(this.off, 0, 0, canvas.width, canvas.height);
  },

  showFigures(now) {
    const a = this.arrivals;
    const fps = a.length > 1 ? (a.length - 1) * 1000 / Math.max(now - a[0], 1) : 0;
    $("fps").textContent = fps.toFixed(1);
    if (this.latencies.length) {
      const sorted = [...this.latencies].sort((x, y) => x - y);
      const last = this.latencies[this.latencies.length - 1];
      $("latency").textContent = `${last.toFixed(0)} ms (p50 ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ms)`;
    }
    $("drops").textContent = `${Math.max(this.gaps, this.serverDrops)}`;
  },

  // Push an event (or set the prompt) and log its ack; the label changes with the first frame that carries it.
  async change(kind, name, payload) {
    try {
      const ack = kind === "event" ? await this.session.pushEvent(name, payload) : await this.session.setPrompt(name);
      this.acknowledged(ack, kind === "event" ? name : "set_prompt");
      return ack;
    } catch (e) {
      this.status(e.message, "error");
      throw e;
    }
  },

  acknowledged(ack, what) {
    if (ack.in_effect) this.prompts.set(ack.event_id, ack.prompt);
    this.sentAt.set(ack.event_id, ack.sent_at);
    const li = document.createElement("li");
    li.className = "ack";
    li.dataset.eventId = String(ack.event_id);
    li.textContent = `event ${ack.event_id} ${what} at chunk ${ack.chunk_index}: ${ack.prompt}` +
      (ack.in_effect ? "" : " (an overlay of higher priority decides)");
    $("acks").prepend(li);
  },

  renderEvents() {
    const box = $("events");
    box.textContent = "";
    if (!this.mapInfo.events.length) box.textContent = "the session's prompt map has no events";
    for (const ev of this.mapInfo.events) {
      const row = document.createElement("div");
      row.className = "event";
      const button = document.createElement("button");
      button.id = `event-${ev.type}`;
      button.textContent = ev.type;
      button.title = ev.prompt;
      const inputs = ev.fields.map((f) => {
        const input = document.createElement("input");
        input.placeholder = f;
        input.dataset.field = f;
        input.value = ev.defaults[f] || "";
        return input;
      });
      const payload = () => Object.fromEntries(inputs.map((i) => [i.dataset.field, i.value]));
      this.payloads[ev.type] = payload;
      button.onclick = () => this.change("event", ev.type, payload()).catch(() => {});
      const cue = document.createElement("button");
      cue.textContent = "+";
      cue.title = "add this event to the cutscene at the time below";
      cue.className = "add-cue";
      cue.onclick = () => Cutscene.addCue(ev.type, payload());
      row.append(button, ...inputs, cue);
      box.append(row);
    }
  },
};

$("prompt-form").onsubmit = (e) => {
  e.preventDefault();
  const text = $("prompt-text").value.trim();
  if (text) Viewer.change("prompt", text).catch(() => {});
};
$("reconnect").onclick = () => Viewer.connect().catch((e) => Viewer.status(e.message, "error"));
$("model-pick").onchange = () => Viewer.connect().catch((e) => Viewer.status(e.message, "error"));
$("token").value = new URLSearchParams(location.hash.slice(1)).get("token") || "";
Viewer.connect().catch((e) => Viewer.status(e.message, "error"));
