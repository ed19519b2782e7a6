// The cutscene editor and player: the TOML timeline that `streamdit cutscene` reads (runtime/cutscene.py),
// checked by the runtime with that same parser (ws://HOST:PORT/v1/tools), played live on the viewer's canvas
// the way `streamdit cutscene` plays it (a session with the timeline's prompt, prompt map and seed 0; a cue
// fires when the stream reaches its time in video frames, one after the other, each waiting for its ack), and
// recorded in the browser with MediaRecorder into a WebM download.
"use strict";

const Cutscene = {
  scene: null, // the last checked timeline: {seconds, prompt, prompt_map, cues: [{at, event, payload, prompt, text}]}
  playing: false,
  recorder: null,

  text() { return $("cutscene-toml").value; },

  status(text, kind) {
    const el = $("cutscene-status");
    el.textContent = text;
    el.className = "status " + (kind || "");
  },

  // A TOML string: a multi-line literal for prompt map text (readable), a basic string otherwise. JSON's string
  // escapes (\" \\ \n \uXXXX) are TOML's.
  str(s) {
    if (s.includes("\n") && !s.includes("'''")) return `'''\n${s.endsWith("\n") ? s : s + "\n"}'''`;
    return JSON.stringify(s);
  },

  key(k) { return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k); },

  cueText(at, eventType, payload) {
    const fields = Object.entries(payload || {}).map(([k, v]) => `${this.key(k)} = ${JSON.stringify(String(v))}`);
    return `\n[[cue]]\nat = ${Number(at).toFixed(2)}\nevent = ${JSON.stringify(eventType)}\n` +
      (fields.length ? `payload = { ${fields.join(", ")} }\n` : "");
  },

  newTimeline() {
    const info = Viewer.mapInfo;
    let text = `# A cutscene made in the StreamDiT viewer; \`streamdit cutscene FILE\` plays it the same way.\n` +
      `seconds = 4.0\nprompt = ${JSON.stringify(info.base || "")}\n` +
      `prompt_map = ${this.str(info.text || "")}\n`;
    info.events.slice(0, 2).forEach((ev, i) => {
      text += this.cueText(1.0 + 1.5 * i, ev.type, Viewer.payloads[ev.type]());
    });
    $("cutscene-toml").value = text;
  },

  addCue(eventType, payload) {
    if (!this.text().trim()) this.newTimeline();
    $("cutscene-toml").value = this.text().replace(/\s*$/, "\n") + this.cueText($("cue-at").value || 0, eventType, payload);
  },

  // Check the timeline with the runtime's parser; shows every cue and the prompt it gives.
  async check() {
    try {
      this.scene = await Viewer.tools.cutscene(this.text());
    } catch (e) {
      this.scene = null;
      this.status(e.message, "error");
      throw e;
    }
    const body = $("cutscene-cues").tBodies[0];
    body.textContent = "";
    this.scene.cues.forEach((c, i) => {
      const tr = body.insertRow();
      tr.id = `cue-${i}`;
      const what = c.event ? `${c.event} ${JSON.stringify(c.payload)}` : "set prompt";
      for (const v of [c.at.toFixed(2), what, c.text, ""]) tr.insertCell().textContent = v;
    });
    this.status(`valid: ${this.scene.seconds} s, ${this.scene.cues.length} cues`, "ok");
    return this.scene;
  },

  async play() {
    if (this.playing) return;
    const scene = await this.check();
    this.playing = true;
    $("cutscene-play").disabled = true;
    $("cutscene-stop").disabled = false;
    $("cutscene-webm").hidden = true;
    const reply = await Viewer.connect({ prompt: scene.prompt, promptMap: scene.prompt_map, seed: 0 });
    const total = Math.max(1, Math.round(scene.seconds * reply.fps));
    const pending = scene.cues.map((c, i) => Object.assign({ index: i }, c));
    let chain = Promise.resolve();
    let fired = 0;
    let frames = 0;
    if ($("cutscene-record").checked) this.startRecording(reply.fps);
    this.status(`playing: 0 / ${total} frames`);
    await new Promise((resolve) => {
      this.finish = resolve;
      Viewer.frameHook = (frame) => {
        frames = frame.frame_index + 1; // frames of the timeline so far (a gap counts: it was dropped)
        const now = frame.frame_index / reply.fps; // video time, as `streamdit cutscene` without --live
        while (pending.length && pending[0].at <= now) {
          const cue = pending.shift();
          chain = chain.then(() => this.fire(cue)).then(() => { fired += 1; });
        }
        this.status(`playing: ${frames} / ${total} frames, ${fired} cues acknowledged`);
        if (frames >= total) resolve();
      };
    });
    Viewer.frameHook = null;
    await chain.catch(() => {});
    await this.stopRecording();
    this.playing = false;
    $("cutscene-play").disabled = false;
    $("cutscene-stop").disabled = true;
    this.status(`played ${frames} frames, ${fired} of ${scene.cues.length} cues acknowledged`, fired === scene.cues.length ? "ok" : "error");
  },

  async fire(cue) {
    const ack = cue.event ? await Viewer.change("event", cue.event, cue.payload) : await Viewer.change("prompt", cue.prompt);
    const row = $(`cue-${cue.index}`);
    if (row) {
      row.classList.add("fired");
      row.cells[3].textContent = `event ${ack.event_id} at chunk ${ack.chunk_index}`;
    }
  },

  startRecording(fps) {
    if (typeof MediaRecorder === "undefined") return;
    const type = ["video/webm;codecs=vp8", "video/webm"].find((t) => MediaRecorder.isTypeSupported(t));
    if (!type) return;
    const chunks = [];
    this.recorder = new MediaRecorder($("stream").captureStream(fps), { mimeType: type });
    this.recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    this.recorded = new Promise((resolve) => {
      this.recorder.onstop = () => resolve(new Blob(chunks, { type: "video/webm" }));
    });
    this.recorder.start(250);
  },

  async stopRecording() {
    if (!this.recorder) return;
    this.recorder.stop();
    const blob = await this.recorded;
    this.recorder = null;
    const link = $("cutscene-webm");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.dataset.bytes = String(blob.size);
    link.hidden = false;
  },

  save() {
    const blob = new Blob([this.text()], { type: "text/plain" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "cutscene.toml";
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  },
};

$("cutscene-new").onclick = () => Cutscene.newTimeline();
$("cutscene-check").onclick = () => Cutscene.check().catch(() => {});
$("cutscene-save").onclick = () => Cutscene.save();
$("cutscene-play").onclick = () => Cutscene.play().catch((e) => {
  Cutscene.playing = false;
  $("cutscene-play").disabled = false;
  Cutscene.status(e.message, "error");
});
$("cutscene-stop").onclick = () => { if (Cutscene.finish) Cutscene.finish(); };
$("cutscene-file").onchange = async (e) => {
  const file = e.target.files[0];
  if (file) { $("cutscene-toml").value = await file.text(); Cutscene.check().catch(() => {}); }
};
