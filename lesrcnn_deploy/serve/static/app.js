// The lesrcnn-deploy web page: images through POST /v1/upscale, videos through the jobs API.
// Plain browser JavaScript, no dependencies, no build step.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  info: null, // GET /readyz
  busy: false,
  queue: [],
  wipe: 50,
  mode: "fit",
  urls: [], // object URLs of the shown comparison (revoked when replaced)
  cancel: null, // function cancelling the running work
};

const RUNTIME_NAMES = { ort: "ONNX Runtime", openvino: "OpenVINO" };

// ---------------------------------------------------------------- server, token, errors

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function formatBytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

function formatSeconds(s) {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

// One sentence: first letter up, one full stop at the end (none added after ?, ! or .).
function sentence(text) {
  const t = String(text || "").trim().replace(/[\s.]+$/, "");
  if (!t) return "";
  const end = /[?!…]$/.test(t) ? "" : ".";
  return t[0].toUpperCase() + t.slice(1) + end;
}

// A readable message for an API error (the server's JSON is {"error": ..., "status": ...}):
// what happened and what to do, then the server's own words as a sentence of their own.
function explain(status, text, retryAfter) {
  const detail = text ? ` Server: ${sentence(text)}` : "";
  let what;
  switch (status) {
    case 401:
      what = "Access denied (401): this server needs an access token. Enter it in the " +
        "“Access token” field above and try again.";
      break;
    case 413:
      what = "File too large (413): the server refused it" +
        (state.info ? `; it accepts up to ${formatBytes(state.info.max_body_bytes)} per ` +
          `image and ${state.info.max_pixels.toLocaleString("en")} pixels.` : ".");
      break;
    case 415:
      what = "Unsupported format (415): the server cannot read this file or write the chosen " +
        "format. Use PNG, JPEG, WebP, BMP or TIFF images, or a common video file.";
      break;
    case 429:
      what = "Too many jobs waiting (429): try again in a moment.";
      break;
    case 503:
      what = "Server busy (503): " + (retryAfter ? `try again in ${retryAfter} s.` :
        "try again shortly.");
      break;
    case 400:
      what = "The server could not use this file or these options (400).";
      break;
    default:
      what = `The server answered ${status}.`;
  }
  return what + detail;
}

async function apiError(response) {
  let text = "";
  try {
    const body = await response.json();
    text = body.error || "";
  } catch (err) {
    text = response.statusText;
  }
  if (response.status === 401) showToken(true);
  return new Error(explain(response.status, text, response.headers.get("Retry-After")));
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function showToken(focus) {
  $("token-box").hidden = false;
  if (focus) $("token").focus();
}

async function loadInfo() {
  for (;;) {
    try {
      const r = await fetch("/readyz", { cache: "no-store" });
      if (r.ok) {
        state.info = await r.json();
        break;
      }
      $("server-status").textContent = "The server is loading its models…";
    } catch (err) {
      $("server-status").textContent = "Cannot reach the server; retrying…";
    }
    await new Promise((done) => setTimeout(done, 1000));
  }
  const models = state.info.models;
  const scales = [...new Set(models.map((m) => m.scale))];
  const precisions = [...new Set(models.map((m) => m.precision))];
  fillSelect($("scale"), scales.map((s) => [String(s), `×${s}`]));
  fillSelect($("precision"), precisions.map((p) => [p, p]));
  const names = models.map((m) => `×${m.scale} ${m.precision}`).join(", ");
  $("server-status").textContent = `Ready: ${names}.` +
    (state.info.auth ? " This server needs an access token." : "");
  document.body.dataset.ready = "true";
  if (state.info.auth) showToken(false);
}

function fillSelect(select, options) {
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
}

// ---------------------------------------------------------------- files and the queue

function isVideo(file) {
  if (file.type) return file.type.startsWith("video/");
  return /\.(mp4|m4v|mkv|mov|webm|avi|mpg|mpeg|ts|flv|wmv|3gp)$/i.test(file.name);
}

function enqueue(files) {
  for (const file of files) {
    const item = addHistory(file.name);
    state.queue.push({ file, item });
  }
  if (!state.busy) next();
}

async function next() {
  const work = state.queue.shift();
  if (!work) {
    state.busy = false;
    return;
  }
  state.busy = true;
  showError("");
  try {
    if (isVideo(work.file)) await runVideo(work.file, work.item);
    else await runImage(work.file, work.item);
  } catch (err) {
    const message = err && err.name === "AbortError" ? "Cancelled." : String(err.message || err);
    showError(`${work.file.name}: ${message}`);
    setItem(work.item, "failed: " + message.split(" Server: ")[0]);
  } finally {
    hideProgress();
    next();
  }
}

function addHistory(name) {
  $("history-empty").hidden = true;
  const li = document.createElement("li");
  const label = document.createElement("span");
  label.className = "name";
  label.textContent = name;
  const st = document.createElement("span");
  st.className = "state";
  st.textContent = "waiting";
  li.append(label, st);
  $("history").prepend(li);
  return li;
}

function setItem(li, text, link, show) {
  li.querySelector(".state").textContent = text;
  if (link) li.append(link);
  if (show) li.append(show);
}

function progress(label, value, text, cancel) {
  $("progress-box").hidden = false;
  $("progress-label").textContent = label;
  const bar = $("progress");
  if (value === null) bar.removeAttribute("value");
  else {
    bar.max = 1;
    bar.value = value;
  }
  $("progress-text").textContent = text;
  state.cancel = cancel;
  $("cancel").hidden = !cancel;
}

function hideProgress() {
  $("progress-box").hidden = true;
  state.cancel = null;
}

// The output size asked for: {} (the model's scale), {outscale} or {fit}; what the query sends
// and the tag of the file name, as the CLI names it (`_x1.5`, `_fit1920x1080`).
function sizeRequest() {
  const mode = $("size-mode").value;
  if (mode === "outscale") {
    const f = Number($("outscale").value);
    if (!(f > 0 && f <= 16)) throw new Error("The factor must be a number above 0 and at most 16.");
    const g = String(Number(f.toPrecision(6))); // as Python's %g
    return { query: { outscale: g }, tag: `x${g}` };
  }
  if (mode === "fit") {
    const m = /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/.exec($("fit-size").value);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) {
      throw new Error("The box must be a width and a height in pixels, such as 1920x1080.");
    }
    const box = `${Number(m[1])}x${Number(m[2])}`;
    return { query: { fit: box }, tag: `fit${box}` };
  }
  return { query: { scale: $("scale").value }, tag: `x${$("scale").value}` };
}

function showSizeMode() {
  const mode = $("size-mode").value;
  $("outscale-box").hidden = mode !== "outscale";
  $("fit-box").hidden = mode !== "fit";
  $("scale").disabled = mode !== "scale"; // otherwise the smallest loaded scale reaching it
}

function outputName(file, ext, tag) {
  const stem = file.name.replace(/\.[^.]+$/, "") || "result";
  return `${stem}_${tag}.${ext}`;
}

function downloadLink(url, name, text) {
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.className = "button";
  a.textContent = text;
  return a;
}

// ---------------------------------------------------------------- images

async function runImage(file, item) {
  const size = sizeRequest();
  const precision = $("precision").value;
  const fmt = $("format").value;
  const controller = new AbortController();
  const started = performance.now();
  const what = size.query.scale ? `×${size.query.scale}` : size.query.outscale ?
    `×${size.query.outscale}` : `to fit ${size.query.fit}`;
  const tick = () => {
    const s = (performance.now() - started) / 1000;
    progress(`Upscaling ${file.name} ${what} (${precision})…`, null, `${s.toFixed(1)} s`,
      () => controller.abort());
  };
  tick();
  setItem(item, "upscaling…");
  const timer = setInterval(tick, 200);
  let response;
  const query = new URLSearchParams({ ...size.query, precision, format: fmt });
  for (let attempt = 1; ; attempt++) {
    try {
      response = await fetch(`/v1/upscale?${query}`, {
        method: "POST",
        body: file,
        headers: { "Content-Type": "application/octet-stream", ...authHeaders() },
        signal: controller.signal,
      });
    } catch (err) {
      clearInterval(timer);
      if (err.name !== "AbortError" && state.info && file.size > state.info.max_body_bytes) {
        throw new Error(explain(413, `request body larger than ${state.info.max_body_bytes} bytes`));
      }
      throw err;
    }
    // A full queue (503 + Retry-After): wait as told and try again, a few times.
    const wait = Number(response.headers.get("Retry-After"));
    if (response.status !== 503 || !wait || attempt >= 4 || controller.signal.aborted) break;
    setItem(item, `server busy, retrying in ${wait} s (attempt ${attempt + 1} of 4)…`);
    await new Promise((done) => setTimeout(done, wait * 1000));
  }
  if (!response.ok) {
    clearInterval(timer);
    throw await apiError(response);
  }
  const blob = await response.blob();
  clearInterval(timer);
  progress(`Drawing the comparison for ${file.name}…`, null, "", null);
  const seconds = (performance.now() - started) / 1000;
  const name = outputName(file, fmt, size.tag);
  const afterUrl = URL.createObjectURL(blob);
  const out = await createImageBitmap(blob);
  const beforeUrl = await bicubicUrl(file, out.width, out.height);
  out.close();
  const facts = factsFrom(response.headers, {
    "Output": null,
    "Round trip": formatSeconds(seconds),
    "Result size": formatBytes(blob.size),
  });
  const label = size.query.scale ? `×${size.query.scale}` : size.query.outscale ?
    `×${size.query.outscale}` : `fit ${size.query.fit}`;
  const show = () => showComparison(file.name, beforeUrl, afterUrl, name, facts, label);
  await show();
  const again = document.createElement("button");
  again.type = "button";
  again.textContent = "Compare";
  again.addEventListener("click", show);
  setItem(item, `done in ${formatSeconds(seconds)}`, downloadLink(afterUrl, name, "Download"), again);
}

function factsFrom(headers, extra) {
  const runtime = headers.get("X-Runtime") || "";
  const ms = headers.get("X-Inference-Ms");
  return {
    "Runtime": RUNTIME_NAMES[runtime] ? `${RUNTIME_NAMES[runtime]} (${runtime})` : runtime,
    "Model": `×${headers.get("X-Model-Scale")} ${headers.get("X-Model-Precision")}`,
    "Inference time": ms ? `${Number(ms).toFixed(1)} ms` : "",
    "Model SHA256": headers.get("X-Model-SHA256") || "",
    ...extra,
  };
}

// Bicubic upscale in the browser (Keys kernel, a = -0.5, as MATLAB's and Pillow's bicubic),
// separable, pixel centres aligned, edges clamped: the "before" side of the comparison.
function cubicWeights(inLen, outLen) {
  const scale = outLen / inLen;
  const a = -0.5;
  const k = (x) => {
    x = Math.abs(x);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
  };
  const idx = new Int32Array(outLen * 4);
  const wts = new Float32Array(outLen * 4);
  for (let o = 0; o < outLen; o++) {
    const src = (o + 0.5) / scale - 0.5;
    const base = Math.floor(src);
    for (let t = 0; t < 4; t++) {
      const i = base - 1 + t;
      idx[o * 4 + t] = Math.min(inLen - 1, Math.max(0, i));
      wts[o * 4 + t] = k(src - i);
    }
  }
  return [idx, wts];
}

function bicubic(src, w, h, W, H) {
  const [xi, xw] = cubicWeights(w, W);
  const [yi, yw] = cubicWeights(h, H);
  const mid = new Float32Array(W * h * 4); // horizontal pass
  for (let y = 0; y < h; y++) {
    const row = y * w * 4;
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 4; c++) {
        let v = 0;
        for (let t = 0; t < 4; t++) v += xw[x * 4 + t] * src[row + xi[x * 4 + t] * 4 + c];
        mid[(y * W + x) * 4 + c] = v;
      }
    }
  }
  const out = new Uint8ClampedArray(W * H * 4); // vertical pass, rounded and clamped
  const acc = new Float32Array(W * 4);
  for (let y = 0; y < H; y++) {
    acc.fill(0);
    for (let t = 0; t < 4; t++) {
      const wgt = yw[y * 4 + t];
      const row = yi[y * 4 + t] * W * 4;
      for (let i = 0; i < W * 4; i++) acc[i] += wgt * mid[row + i];
    }
    out.set(acc, y * W * 4); // Uint8ClampedArray rounds half to even and clamps
  }
  return new ImageData(out, W, H);
}

async function bicubicUrl(file, W, H) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const w = bitmap.width;
  const h = bitmap.height;
  const canvas = document.createElement("canvas");
  const big = W * H > 16e6 || W < w || H < h; // very large or smaller: the browser's own scaling
  canvas.width = big ? W : w;
  canvas.height = big ? H : h;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  if (big) {
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  } else {
    ctx.drawImage(bitmap, 0, 0);
    const pixels = ctx.getImageData(0, 0, w, h).data;
    canvas.width = W;
    canvas.height = H;
    ctx.putImageData(bicubic(pixels, w, h, W, H), 0, 0);
  }
  bitmap.close();
  const blob = await new Promise((done) => canvas.toBlob(done, "image/png"));
  return URL.createObjectURL(blob);
}

// ---------------------------------------------------------------- comparison view

function loaded(img, url) {
  return new Promise((done, fail) => {
    img.onload = () => done();
    img.onerror = () => fail(new Error("the browser cannot display this result"));
    img.src = url;
  });
}

async function showComparison(name, beforeUrl, afterUrl, fileName, facts, scale) {
  const before = $("before");
  const after = $("after");
  before.alt = `${name}: bicubic upscale ${scale} of the input (left of the line)`;
  after.alt = `${name}: LESRCNN ${scale} output (right of the line)`;
  await Promise.all([loaded(before, beforeUrl), loaded(after, afterUrl)]);
  $("result-name").textContent = name;
  const link = $("download");
  link.href = afterUrl;
  link.download = fileName;
  link.textContent = `Download ${fileName}`;
  facts.Output = `${after.naturalWidth} × ${after.naturalHeight} pixels`;
  const dl = $("facts");
  dl.replaceChildren();
  for (const [key, value] of Object.entries(facts)) {
    if (!value) continue;
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    if (key === "Model SHA256") {
      const code = document.createElement("code");
      code.textContent = value;
      dd.append(code);
    } else dd.textContent = value;
    dd.dataset.fact = key;
    dl.append(dt, dd);
  }
  $("result").hidden = false;
  setMode(state.mode);
  setWipe(state.wipe);
}

function setWipe(pct) {
  pct = Math.min(100, Math.max(0, pct));
  state.wipe = pct;
  $("after").style.clipPath = `inset(0 0 0 ${pct}%)`;
  $("handle").style.left = `${pct}%`;
  const wipe = $("wipe");
  wipe.value = String(Math.round(pct));
  wipe.setAttribute("aria-valuetext", `${Math.round(pct)}% bicubic, ${Math.round(100 - pct)}% LESRCNN`);
}

function setMode(mode) {
  state.mode = mode;
  const stage = $("stage");
  stage.classList.toggle("fit", mode === "fit");
  stage.classList.toggle("actual", mode === "actual");
  $("fit").setAttribute("aria-pressed", String(mode === "fit"));
  $("actual").setAttribute("aria-pressed", String(mode === "actual"));
  const wrap = $("wrap");
  if (mode === "actual") {
    const after = $("after");
    // One image pixel per device pixel.
    wrap.style.width = `${after.naturalWidth / window.devicePixelRatio}px`;
  } else {
    // Fit the whole image on screen: the full width, or less when it would be too tall.
    const after = $("after");
    const aspect = after.naturalWidth / Math.max(1, after.naturalHeight);
    wrap.style.width = `min(100%, calc(70vh * ${aspect.toFixed(4)}))`;
  }
}

function wipeFromPointer(event) {
  const box = $("wrap").getBoundingClientRect();
  setWipe(((event.clientX - box.left) / box.width) * 100);
}

function setupStage() {
  const stage = $("stage");
  let drag = null;
  stage.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const onHandle = event.target.closest(".handle");
    if (state.mode === "actual" && !onHandle) {
      drag = { kind: "pan", x: event.clientX, y: event.clientY,
        left: stage.scrollLeft, top: stage.scrollTop };
      stage.classList.add("panning");
    } else {
      drag = { kind: "wipe" };
      wipeFromPointer(event);
    }
    stage.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  stage.addEventListener("pointermove", (event) => {
    if (!drag) return;
    if (drag.kind === "wipe") wipeFromPointer(event);
    else {
      stage.scrollLeft = drag.left - (event.clientX - drag.x);
      stage.scrollTop = drag.top - (event.clientY - drag.y);
    }
  });
  const end = () => {
    drag = null;
    stage.classList.remove("panning");
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);
  stage.addEventListener("keydown", (event) => {
    // In fit mode the arrow keys move the wipe; at 1:1 the browser scrolls (pans) the stage.
    if (state.mode === "fit" && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
      setWipe(state.wipe + (event.key === "ArrowLeft" ? -5 : 5));
      event.preventDefault();
    }
  });
  $("wipe").addEventListener("input", (event) => setWipe(Number(event.target.value)));
  $("fit").addEventListener("click", () => setMode("fit"));
  $("actual").addEventListener("click", () => setMode("actual"));
}

// ---------------------------------------------------------------- videos (the jobs API)

async function runVideo(file, item) {
  const scale = $("scale").value;
  const precision = $("precision").value;
  const started = performance.now();
  progress(`Uploading ${file.name}…`, null, formatBytes(file.size), null);
  setItem(item, "uploading…");
  // Matroska in, Matroska out (its audio codecs may not fit MP4); QuickTime stays QuickTime.
  const container = /\.(mkv|webm)$/i.test(file.name) ? "mkv" :
    /\.mov$/i.test(file.name) ? "mov" : "mp4";
  const query = new URLSearchParams({ scale, precision, format: container });
  let created;
  try {
    created = await fetch(`/v1/jobs?${query}`, {
      method: "POST",
      body: file,
      headers: { "Content-Type": "application/octet-stream", ...authHeaders() },
    });
  } catch (err) {
    if (state.info && file.size > state.info.max_job_bytes) {
      throw new Error(explain(413, `request body larger than ${state.info.max_job_bytes} bytes`));
    }
    throw err;
  }
  if (!created.ok) throw await apiError(created);
  const job = await created.json();
  let cancelled = false;
  const cancel = async () => {
    cancelled = true;
    await fetch(`/v1/jobs/${job.id}`, { method: "DELETE", headers: authHeaders() });
  };
  let view = job;
  for (;;) {
    const p = view.progress;
    const eta = view.eta_seconds === null ? "" : ` · about ${formatSeconds(view.eta_seconds)} left`;
    const counted = p.total ? `${p.done} / ${p.total} ${p.unit}` : `${p.done} ${p.unit}`;
    progress(`Upscaling ${file.name} ×${scale} (${precision}): ${view.state}`,
      p.total ? p.done / p.total : null, counted + eta, cancel);
    setItem(item, `${view.state}: ${counted}`);
    if (["done", "failed", "cancelled"].includes(view.state)) break;
    await new Promise((done) => setTimeout(done, 300));
    const r = await fetch(`/v1/jobs/${job.id}`, { headers: authHeaders(), cache: "no-store" });
    if (!r.ok) throw await apiError(r);
    view = await r.json();
  }
  if (view.state === "cancelled" || cancelled) {
    setItem(item, "cancelled");
    return;
  }
  if (view.state === "failed") throw new Error(`the job failed: ${view.error}`);
  progress(`Downloading the result of ${file.name}…`, 1, "", null);
  const result = await fetch(`/v1/jobs/${job.id}/result`, { headers: authHeaders() });
  if (!result.ok) throw await apiError(result);
  const blob = await result.blob();
  const url = URL.createObjectURL(blob);
  const seconds = (performance.now() - started) / 1000;
  const frames = `${view.progress.done} frames`;
  const link = downloadLink(url, outputName(file, container, `x${scale}`), "Download video");
  link.dataset.job = job.id;
  setItem(item, `done: ${frames} in ${formatSeconds(seconds)}, ${formatBytes(blob.size)}` +
    ` · ${RUNTIME_NAMES[result.headers.get("X-Runtime")] || ""}` +
    ` · model ${(result.headers.get("X-Model-SHA256") || "").slice(0, 12)}…`, link);
}

// ---------------------------------------------------------------- wiring

function setupInput() {
  const drop = $("drop");
  const input = $("file");
  input.addEventListener("change", () => {
    enqueue([...input.files]);
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("dragging"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    enqueue([...event.dataTransfer.files]);
  });
  $("cancel").addEventListener("click", () => {
    if (state.cancel) state.cancel();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("size-mode").addEventListener("change", showSizeMode);
  showSizeMode();
  setupInput();
  setupStage();
  loadInfo();
});
