// gankit lab: the page draws what the server computed (frames documented in docs/lab.md).
// Plain JavaScript and canvas, no library, no network beyond this lab's own server.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const lab = {
  hello: null, frame: null, ws: null, nextId: 1, pending: false, errorSeq: 0,
  drawn: [], layers: { heat: true, real: true, fake: true, arrows: true, mesh: true, dstar: true },
  arrowRef: 0, recording: false, recorded: [], lastRecord: 0,
  frames: 0, errors: [],  // read by the end-to-end test
};
window.gankitLab = lab;

const $ = (id) => document.getElementById(id);
const PANE_SIZE = 360;

// ------------------------------------------------------------------------- frames
function decode(field) {
  if (!field) return null;
  const bin = atob(field.b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return { data: new Float32Array(bytes.buffer), shape: field.shape };
}

function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "\u2014";
  if (typeof v === "string") return v;
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(2);
  return v.toPrecision(digits);
}

// ------------------------------------------------------------------------ colours
// D(x) in [0, 1]: blue (says fake) -> white (1/2) -> red (says real); scores use the same map over [min, max].
function diverging(t) {
  t = Math.min(1, Math.max(0, t));
  if (t < 0.5) { const u = t / 0.5; return [Math.round(49 + 206 * u), Math.round(104 + 151 * u), Math.round(196 + 59 * u)]; }
  const u = (t - 0.5) / 0.5; return [255, Math.round(255 - 150 * u), Math.round(255 - 170 * u)];
}

function heatImage(h, lo, hi) {  // h: a decoded [n, m] array
  const n = h.shape[0], m = h.shape[1];
  const img = new ImageData(m, n);
  for (let r = 0; r < n; r++) {
    const row = n - 1 - r;  // row 0 of the data is y_min: the bottom of the picture
    for (let c = 0; c < m; c++) {
      const v = h.data[row * m + c];
      const k = (r * m + c) * 4;
      if (!Number.isFinite(v)) { img.data.set([200, 200, 200, 255], k); continue; }
      const [R, G, B] = diverging(hi > lo ? (v - lo) / (hi - lo) : 0.5);
      img.data.set([R, G, B, 255], k);
    }
  }
  const off = document.createElement("canvas"); off.width = m; off.height = n;
  off.getContext("2d").putImageData(img, 0, 0);
  return off;
}

// --------------------------------------------------------------------- the panes
function paneElements(i) {
  let el = document.getElementById("pane-" + i);
  if (el) return el;
  el = document.createElement("div"); el.className = "pane"; el.id = "pane-" + i;
  el.innerHTML = `<h3></h3><div class="canvases">
      <div><canvas class="plane" width="${PANE_SIZE}" height="${PANE_SIZE}"></canvas><div class="label plane-label"></div></div>
      <div><canvas class="theory" width="${PANE_SIZE}" height="${PANE_SIZE}"></canvas><div class="label">D* = p_r / (p_r + p_g) and G's manifold (mesh; cells coloured by the density G implies, red = folded)</div></div>
    </div><table class="numbers"></table>`;
  $("panes").appendChild(el);
  if (i === 0) attachDrawing(el.querySelector("canvas.plane"));
  return el;
}

function toPixel(extent, x, y) {
  return [(x - extent[0]) / (extent[1] - extent[0]) * PANE_SIZE, (extent[3] - y) / (extent[3] - extent[2]) * PANE_SIZE];
}

function drawPoints(ctx, extent, field, colour, size) {
  const p = decode(field); if (!p) return;
  ctx.fillStyle = colour;
  for (let i = 0; i < p.shape[0]; i++) {
    const [x, y] = toPixel(extent, p.data[2 * i], p.data[2 * i + 1]);
    if (Number.isFinite(x) && Number.isFinite(y)) ctx.fillRect(x - size / 2, y - size / 2, size, size);
  }
}

function drawArrows(ctx, extent, pane, scale) {
  const f = decode(pane.fake), a = decode(pane.arrows);
  ctx.strokeStyle = "rgba(20,20,20,0.75)"; ctx.lineWidth = 1;
  ctx.beginPath();
  for (let i = 0; i < a.shape[0]; i++) {
    const x = f.data[2 * i], y = f.data[2 * i + 1];
    const dx = a.data[2 * i] * scale, dy = a.data[2 * i + 1] * scale;
    const [px, py] = toPixel(extent, x, y), [qx, qy] = toPixel(extent, x + dx, y + dy);
    if (![px, py, qx, qy].every(Number.isFinite)) continue;
    ctx.moveTo(px, py); ctx.lineTo(qx, qy);
    const ang = Math.atan2(qy - py, qx - px), len = Math.hypot(qx - px, qy - py);
    if (len > 4) {
      ctx.moveTo(qx, qy); ctx.lineTo(qx - 4 * Math.cos(ang - 0.5), qy - 4 * Math.sin(ang - 0.5));
      ctx.moveTo(qx, qy); ctx.lineTo(qx - 4 * Math.cos(ang + 0.5), qy - 4 * Math.sin(ang + 0.5));
    }
  }
  ctx.stroke();
}

function drawPlane(canvas, frame, pane) {
  const ctx = canvas.getContext("2d"), ext = frame.extent;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, PANE_SIZE, PANE_SIZE);
  ctx.imageSmoothingEnabled = true;
  const slow = pane.slow;
  let label = pane.heat_kind === "D(x)" ? "D(x): blue 0 \u2192 white \u00bd \u2192 red 1" :
    `critic f(x): blue ${fmt(pane.numbers.heat_min, 3)} \u2192 red ${fmt(pane.numbers.heat_max, 3)}`;
  if (lab.layers.heat) {
    if (slow && slow.phase === "d" && slow.heat_before) {  // what this D update changed
      const now = decode(pane.heat), before = decode(slow.heat_before);
      const delta = now.data.map((v, i) => v - before.data[i]);
      let m = 1e-12; for (const v of delta) m = Math.max(m, Math.abs(v));
      ctx.drawImage(heatImage({ data: delta, shape: now.shape }, -m, m), 0, 0, PANE_SIZE, PANE_SIZE);
      label = `slow motion: D update ${slow.index} of ${slow.of}; change of ${pane.heat_kind} (\u00b1${fmt(m, 3)})`;
    } else {
      const lo = pane.critic ? pane.numbers.heat_min : 0, hi = pane.critic ? pane.numbers.heat_max : 1;
      ctx.drawImage(heatImage(decode(pane.heat), lo, hi), 0, 0, PANE_SIZE, PANE_SIZE);
    }
  }
  if (lab.layers.real) drawPoints(ctx, ext, pane.real, "rgba(0,110,60,0.8)", 3);
  if (slow && slow.phase === "g" && slow.fake_before) {  // what this G update changed: old -> new positions
    const b = decode(slow.fake_before), f = decode(pane.fake);
    ctx.strokeStyle = "rgba(230,120,0,0.9)"; ctx.beginPath();
    for (let i = 0; i < f.shape[0]; i++) {
      const [px, py] = toPixel(ext, b.data[2 * i], b.data[2 * i + 1]), [qx, qy] = toPixel(ext, f.data[2 * i], f.data[2 * i + 1]);
      if ([px, py, qx, qy].every(Number.isFinite)) { ctx.moveTo(px, py); ctx.lineTo(qx, qy); }
    }
    ctx.stroke();
    label = "slow motion: the G update moved each sample along the orange segment";
  }
  if (lab.layers.fake) drawPoints(ctx, ext, pane.fake, "rgba(90,20,140,0.85)", 3);
  if (lab.layers.arrows) drawArrows(ctx, ext, pane, lab.arrowScale);
  if (lab.drawn.length && canvas.dataset.drawing === "1") {
    ctx.fillStyle = "rgba(255,140,0,0.9)";
    for (const [x, y] of lab.drawn) { const [px, py] = toPixel(ext, x, y); ctx.fillRect(px - 2, py - 2, 4, 4); }
  }
  canvas.parentElement.querySelector(".plane-label").textContent =
    label + " \u00b7 green: real \u00b7 purple: G(z) \u00b7 arrows: \u2212dL_G/dx";
}

function drawTheory(canvas, frame, pane) {
  const ctx = canvas.getContext("2d"), ext = frame.extent;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, PANE_SIZE, PANE_SIZE);
  if (lab.layers.dstar) ctx.drawImage(heatImage(decode(pane.dstar), 0, 1), 0, 0, PANE_SIZE, PANE_SIZE);
  if (!lab.layers.mesh) return;
  const mesh = decode(pane.mesh), dens = decode(pane.mesh_density), n = mesh.shape[0];
  const P = (a, b) => toPixel(ext, mesh.data[(a * n + b) * 2], mesh.data[(a * n + b) * 2 + 1]);
  if (dens) {
    for (let a = 0; a < n - 1; a++) for (let b = 0; b < n - 1; b++) {
      const d = dens.data[a * (n - 1) + b];
      if (!Number.isFinite(d)) continue;
      const t = Math.min(1, Math.max(0, (Math.log10(Math.abs(d)) + 1) / 4));  // 0.1 .. 1000
      ctx.fillStyle = d < 0 ? `rgba(200,30,30,${0.15 + 0.5 * t})` : `rgba(60,40,140,${0.08 + 0.45 * t})`;
      const pts = [P(a, b), P(a, b + 1), P(a + 1, b + 1), P(a + 1, b)];
      if (!pts.flat().every(Number.isFinite)) continue;
      ctx.beginPath(); ctx.moveTo(...pts[0]); for (const p of pts.slice(1)) ctx.lineTo(...p); ctx.closePath(); ctx.fill();
    }
  }
  ctx.strokeStyle = "rgba(40,40,40,0.55)"; ctx.lineWidth = 0.7; ctx.beginPath();
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) {
    const p = P(a, b);
    if (!p.every(Number.isFinite)) continue;
    if (b + 1 < n) { const q = P(a, b + 1); if (q.every(Number.isFinite)) { ctx.moveTo(...p); ctx.lineTo(...q); } }
    if (a + 1 < n) { const q = P(a + 1, b); if (q.every(Number.isFinite)) { ctx.moveTo(...p); ctx.lineTo(...q); } }
  }
  ctx.stroke();
}

function numbersTable(table, pane) {
  const n = pane.numbers, m = pane.metrics || {}, critic = pane.critic;
  const rows = [
    ["step", pane.step, "run folder", pane.run || "(at the first step)"],
    [critic ? "mean f(x), real" : "mean D(x), real", n.mean_on_real, critic ? "mean f(G(z))" : "mean D(G(z))", n.mean_on_fake],
    [`${pane.heat_kind} min`, n.heat_min, `${pane.heat_kind} max`, n.heat_max],
    ["mean |\u2212dL_G/dx|", n.arrow_mean, "max |\u2212dL_G/dx|", n.arrow_max],
    ["mean |D \u2212 D*|", n.dstar_gap, "folded cells", n.folded_cells],
    ["modes captured", m.modes_captured === undefined ? null : `${m.modes_captured} / ${m.n_modes}`,
      "high quality", m.high_quality === undefined ? null : fmt(100 * m.high_quality, 3) + " %"],
    ["reverse KL", m.reverse_kl, "W1 to data", m.w1],
    ["JS (2-D hist.)", m.js_hist, "metrics at step", pane.metrics_step >= 0 ? pane.metrics_step : null],
    ["K", pane.settings.d_steps, "lr G / D", `${fmt(pane.settings.lr_g, 3)} / ${fmt(pane.settings.lr_d, 3)}`],
  ];
  while (table.rows.length < rows.length) { const tr = table.insertRow(); for (let i = 0; i < 4; i++) tr.insertCell(); }
  rows.forEach((r, k) => r.forEach((v, i) => {  // update in place: no relayout of the whole table
    const text = i % 2 === 0 ? String(v) : fmt(v), cell = table.rows[k].cells[i];
    if (cell.textContent !== text) cell.textContent = text;
  }));
}

// ---------------------------------------------------------------------- curves
const PANELS = [
  { title: "losses (D solid dark, G light)", keys: ["loss_d", "loss_g"] },
  { title: "mean D(x) / D(G(z)) (f for critics)", keys: ["d_real", "d_fake"], critic: ["f_real", "f_fake"] },
  { title: "|grad G| (parameters)", keys: ["grad_norm_g"] },
  { title: "W estimate E f(x) \u2212 E f(G(z)) (critics); exact W1 (dots)", keys: [], critic: ["w_estimate"], metric: ["w1"] },
  { title: "JS of 2-D histograms", metric: ["js_hist"] },
  { title: "modes captured", metric: ["modes_captured"] },
  { title: "high quality (fraction)", metric: ["high_quality"] },
  { title: "reverse KL", metric: ["reverse_kl"] },
];

function series(curves, key) {
  if (!curves || !curves[key]) return null;
  return { x: decode(curves.step).data, y: decode(curves[key]).data };
}

function drawCurves(frame) {
  const canvas = $("curves"), ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, cols = 4, rows = 2, pw = W / cols, ph = H / rows;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
  const colours = ["#1f4fb4", "#8fa8e0", "#1a7f4b", "#9dd3b4"];
  PANELS.forEach((panel, k) => {
    const x0 = (k % cols) * pw + 34, y0 = Math.floor(k / cols) * ph + 18, w = pw - 44, h = ph - 40;
    const lines = [];
    frame.panes.forEach((pane, p) => {
      const keys = pane.critic && panel.critic ? panel.critic : (panel.keys || []);
      keys.forEach((key, j) => { const s = series(pane.curves, key); if (s) lines.push({ s, p, j, dots: false }); });
      (panel.metric || []).forEach((key, j) => { const s = series(pane.metric_curves, key); if (s) lines.push({ s, p, j, dots: true }); });
    });
    let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
    for (const l of lines) for (let i = 0; i < l.s.x.length; i++) {
      const y = l.s.y[i]; if (!Number.isFinite(y)) continue;
      xmin = Math.min(xmin, l.s.x[i]); xmax = Math.max(xmax, l.s.x[i]); ymin = Math.min(ymin, y); ymax = Math.max(ymax, y);
    }
    ctx.fillStyle = "#1d2330"; ctx.font = "11px system-ui"; ctx.fillText(panel.title, x0 - 30, y0 - 6);
    ctx.strokeStyle = "#d7dbe3"; ctx.strokeRect(x0, y0, w, h);
    if (!Number.isFinite(xmin)) return;
    if (ymax === ymin) { ymax += 0.5; ymin -= 0.5; }
    if (xmax === xmin) xmax = xmin + 1;
    ctx.fillStyle = "#5d6678"; ctx.fillText(fmt(ymax, 3), x0 - 32, y0 + 9); ctx.fillText(fmt(ymin, 3), x0 - 32, y0 + h);
    ctx.fillText(String(Math.round(xmax)), x0 + w - 30, y0 + h + 12);
    const X = (v) => x0 + (v - xmin) / (xmax - xmin) * w, Y = (v) => y0 + h - (v - ymin) / (ymax - ymin) * h;
    for (const l of lines) {
      ctx.strokeStyle = ctx.fillStyle = colours[(l.dots ? 2 : 0) + Math.min(l.j, 1)];
      ctx.setLineDash(l.p === 1 ? [4, 3] : []);
      if (l.dots) {
        for (let i = 0; i < l.s.x.length; i++) if (Number.isFinite(l.s.y[i])) {
          const px = X(l.s.x[i]), py = Y(l.s.y[i]);
          if (l.p === 1) ctx.strokeRect(px - 1.5, py - 1.5, 3, 3); else ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
        }
        continue;
      }
      ctx.beginPath(); let on = false;
      for (let i = 0; i < l.s.x.length; i++) {
        const y = l.s.y[i]; if (!Number.isFinite(y)) { on = false; continue; }
        if (on) ctx.lineTo(X(l.s.x[i]), Y(y)); else { ctx.moveTo(X(l.s.x[i]), Y(y)); on = true; }
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
  });
}

// ------------------------------------------------------------------------ render
function render() {
  lab.pending = false;
  const frame = lab.frame; if (!frame) return;
  // arrows share one scale across panes (so minimax vs non-saturating compares), decaying slowly
  const top = Math.max(...frame.panes.map((p) => (typeof p.numbers.arrow_max === "number" ? p.numbers.arrow_max : 0)));
  lab.arrowRef = Math.max(top, lab.arrowRef * 0.995, 1e-12);
  lab.arrowScale = 0.12 * (frame.extent[1] - frame.extent[0]) / lab.arrowRef;
  for (let i = 0; i < 2; i++) {
    const el = document.getElementById("pane-" + i);
    if (el && i >= frame.panes.length) el.remove();
  }
  frame.panes.forEach((pane, i) => {
    const el = paneElements(i);
    const title = (pane.label ? `Pane ${pane.label}: ` : "") + `${pane.loss} on ${frame.drawn ? "your drawing" : frame.data}` +
      (pane.replay ? ` (replay ${pane.replay.index + 1} / ${pane.replay.of})` : "");
    el.querySelector("h3").textContent = title + (pane.diverged ? " \u2014 diverged" : "");
    drawPlane(el.querySelector("canvas.plane"), frame, pane);
    drawTheory(el.querySelector("canvas.theory"), frame, pane);
    numbersTable(el.querySelector("table.numbers"), pane);
  });
  drawCurves(frame);
  $("step-counter").textContent = "step " + frame.panes[0].step;
  $("rates").textContent = `${fmt(frame.rates.steps_per_s, 3)} steps/s \u00b7 ${fmt(frame.rates.fps, 3)} frames/s`;
  $("status").textContent = (frame.replay ? "replay \u00b7 " : "") + (frame.playing ? "playing" : "paused") + (frame.slowmo ? " \u00b7 slow motion" : "");
  $("play").textContent = frame.playing ? "Pause" : "Play";
  $("play").classList.toggle("on", frame.playing);
  $("slowmo").checked = frame.slowmo;
  $("pane-choice").hidden = frame.panes.length < 2;
  if (frame.error && frame.error.seq > lab.errorSeq) { lab.errorSeq = frame.error.seq; showError(frame.error.message); }
  syncSettings(frame);
  if (lab.recording) record();
}

function schedule() { if (!lab.pending) { lab.pending = true; requestAnimationFrame(render); } }

// ------------------------------------------------------------------- messages
function send(obj) {
  if (!lab.ws || lab.ws.readyState !== WebSocket.OPEN) { showError("not connected to the lab"); return; }
  obj.id = lab.nextId++;
  lab.ws.send(JSON.stringify(obj));
}

let errorTimer = null;
function showError(message) {
  lab.errors.push(message);
  const el = $("error"); el.textContent = message; el.hidden = false;
  clearTimeout(errorTimer); errorTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" + (token ? "?token=" + encodeURIComponent(token) : "");
  const ws = new WebSocket(url);
  lab.ws = ws;
  ws.onmessage = (ev) => {
    let msg; try { msg = JSON.parse(ev.data); } catch { return; }
    if (msg.type === "frame") { lab.frame = msg; lab.frames++; schedule(); }
    else if (msg.type === "hello") setup(msg);
    else if (msg.type === "error") showError(msg.message);
  };
  ws.onopen = () => { $("status").textContent = "connected"; };
  ws.onclose = () => { $("status").textContent = "disconnected; reconnecting\u2026"; setTimeout(connect, 1500); };
}

// ------------------------------------------------------------------- controls
function setup(hello) {
  lab.hello = hello;
  const box = $("settings"); box.innerHTML = "";
  for (const [name, spec] of Object.entries(hello.controls)) {
    const label = document.createElement("label"); label.title = `${spec.key}: ${spec.doc}`;
    label.appendChild(document.createTextNode(name));
    let input;
    if (spec.choices) {
      input = document.createElement("select");
      for (const c of spec.choices) { const o = document.createElement("option"); o.value = o.textContent = c; input.appendChild(o); }
    } else { input = document.createElement("input"); input.type = "text"; input.inputMode = "decimal"; input.placeholder = "default"; }
    input.id = "ctl-" + name; input.dataset.control = name;
    input.addEventListener("change", () => {
      const raw = input.value.trim();
      let value = raw;
      if (!spec.choices) value = raw === "" ? null : (Number.isFinite(Number(raw)) ? Number(raw) : raw);
      send({ cmd: "set", pane: selectedPane(), values: { [name]: value } });
      input.blur();
    });
    label.appendChild(input); box.appendChild(label);
  }
  const compare = $("compare"); compare.length = 1;
  for (const c of hello.controls.loss.choices) { const o = document.createElement("option"); o.value = o.textContent = c; compare.appendChild(o); }
  const sc = $("scenarios"); sc.innerHTML = "";
  for (const s of hello.scenarios) {
    const b = document.createElement("button"); b.type = "button"; b.textContent = s.title; b.title = s.caption.join(" ");
    b.addEventListener("click", () => { send({ cmd: "scenario", name: s.name }); showCaption(s); });
    sc.appendChild(b);
  }
  const layers = $("layers"); layers.innerHTML = "";
  for (const name of Object.keys(lab.layers)) {
    const l = document.createElement("label"); const c = document.createElement("input"); c.type = "checkbox"; c.checked = lab.layers[name];
    c.addEventListener("change", () => { lab.layers[name] = c.checked; schedule(); });
    l.appendChild(c); l.appendChild(document.createTextNode(" " + name + " ")); layers.appendChild(l);
  }
  for (const id of ["draw-mode", "draw-send", "draw-clear", "draw-off", "compare", "slowmo"]) $(id).disabled = !!hello.replay;
  box.querySelectorAll("input, select").forEach((el) => { el.disabled = !!hello.replay; });
}

function showCaption(s) { const el = $("caption"); el.textContent = `${s.title}: ${s.caption[0]} ${s.caption[1]}`; el.hidden = false; }

function selectedPane() { const r = document.querySelector("input[name=pane]:checked"); return r && lab.frame && lab.frame.panes.length > 1 ? Number(r.value) : 0; }

function syncSettings(frame) {
  const pane = frame.panes[Math.min(selectedPane(), frame.panes.length - 1)];
  for (const [name, value] of Object.entries(pane.settings)) {
    const el = document.getElementById("ctl-" + name);
    if (!el || el === document.activeElement) continue;
    el.value = value === null ? "" : String(value);
  }
  const compare = $("compare");
  if (compare !== document.activeElement) compare.value = frame.panes.length > 1 ? frame.panes[1].loss : "";
}

$("play").addEventListener("click", () => send({ cmd: lab.frame && lab.frame.playing ? "pause" : "play" }));
$("step").addEventListener("click", () => send({ cmd: "step" }));
$("reset").addEventListener("click", () => send({ cmd: "reset" }));
$("slowmo").addEventListener("change", (e) => send({ cmd: "slowmo", value: e.target.checked }));
$("speed").addEventListener("change", (e) => send({ cmd: "speed", value: Number(e.target.value) }));
$("compare").addEventListener("change", (e) => send({ cmd: "compare", values: e.target.value ? { loss: e.target.value } : null }));

// ------------------------------------------------------------------- drawing
function attachDrawing(canvas) {
  let down = false, last = null;
  const add = (ev) => {
    if (!lab.frame) return;
    const r = canvas.getBoundingClientRect(), ext = lab.frame.extent;
    const x = ext[0] + (ev.clientX - r.left) / r.width * (ext[1] - ext[0]);
    const y = ext[3] - (ev.clientY - r.top) / r.height * (ext[3] - ext[2]);
    const step = (ext[1] - ext[0]) / 150;
    if (last && Math.hypot(x - last[0], y - last[1]) < step) return;
    if (lab.drawn.length >= lab.hello.limits.drawn_points[1]) return;
    if (x < ext[0] || x > ext[1] || y < ext[2] || y > ext[3]) return;
    lab.drawn.push([x, y]); last = [x, y];
    $("draw-count").textContent = `${lab.drawn.length} points`;
    schedule();
  };
  canvas.addEventListener("pointerdown", (ev) => { if (!$("draw-mode").checked) return; down = true; last = null; canvas.setPointerCapture(ev.pointerId); add(ev); });
  canvas.addEventListener("pointermove", (ev) => { if (down) add(ev); });
  canvas.addEventListener("pointerup", () => { down = false; });
  canvas.dataset.drawing = "1";
}
$("draw-send").addEventListener("click", () => send({ cmd: "draw", points: lab.drawn }));
$("draw-clear").addEventListener("click", () => { lab.drawn = []; $("draw-count").textContent = "0 points"; schedule(); });
$("draw-off").addEventListener("click", () => send({ cmd: "draw", points: null }));

// ----------------------------------------------------------------- recording
function record() {
  const now = performance.now();
  if (now - lab.lastRecord < 200 || lab.recorded.length >= 150) return;  // at most 5 per second, 150 frames
  lab.lastRecord = now;
  const panes = [...document.querySelectorAll(".pane canvas")], curves = $("curves");
  const full = panes.length * (PANE_SIZE + 6), scale = Math.min(1, 900 / full);
  const out = document.createElement("canvas");
  out.width = Math.round(full * scale);
  const curvesHeight = Math.round(curves.height * out.width / curves.width);
  out.height = Math.round(PANE_SIZE * scale) + curvesHeight;
  const ctx = out.getContext("2d"); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, out.width, out.height);
  panes.forEach((c, i) => ctx.drawImage(c, i * (PANE_SIZE + 6) * scale, 0, PANE_SIZE * scale, PANE_SIZE * scale));
  ctx.drawImage(curves, 0, Math.round(PANE_SIZE * scale), out.width, curvesHeight);
  lab.recorded.push(out.toDataURL("image/png"));
  $("record-count").textContent = `${lab.recorded.length} frames recorded`;
}
$("record").addEventListener("click", () => {
  lab.recording = !lab.recording;
  $("record").classList.toggle("on", lab.recording);
  $("record").textContent = lab.recording ? "Stop" : "Record";
  if (lab.recording) lab.recorded = [];
  $("export").disabled = lab.recording || lab.recorded.length === 0;
});
$("export").addEventListener("click", async () => {
  const res = await fetch("export.gif" + (token ? "?token=" + encodeURIComponent(token) : ""), {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ frames: lab.recorded, ms: 200 }),
  });
  if (!res.ok) { showError("export failed: " + (await res.text())); return; }
  const a = document.createElement("a"); a.href = URL.createObjectURL(await res.blob()); a.download = "gankit-lab.gif"; a.click();
});

connect();
