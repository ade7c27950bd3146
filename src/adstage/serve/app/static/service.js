// The staging page: upload a product, follow the job, show the ranked candidates, animate one,
// download. Every API call sends the API key when one was entered; images and videos are fetched
// with it and shown from blob URLs (an <img src> cannot send a header).
"use strict";

const $ = (sel) => document.querySelector(sel);
let apiKey = sessionStorage.getItem("adstage-key") || "";
let file = null;

function headers() {
  return apiKey ? { "X-API-Key": apiKey } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) { $("#keybox").hidden = false; }
  if (!response.ok) {
    const error = body && body.error ? body.error : { code: String(response.status), message: response.statusText };
    throw Object.assign(new Error(error.message), { code: error.code, status: response.status });
  }
  return { status: response.status, body };
}

async function blobUrl(url) {
  const response = await fetch(url, { headers: headers() });
  if (!response.ok) { throw new Error(`download failed: ${response.status}`); }
  return URL.createObjectURL(await response.blob());
}

function showError(error) {
  const box = $("#error");
  box.hidden = false;
  box.textContent = `${error.code ? error.code + ": " : ""}${error.message}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") { node.className = value; } else { node.setAttribute(key, value); }
  }
  for (const child of children) { node.append(child); }
  return node;
}

async function loadInfo() {
  try {
    const { body } = await api("/v1/info");
    $("#server").textContent = `adstage ${body.version} · ${body.catalog_embedders.join(", ")}` +
      (body.generate ? " · RefAdGen on" : "");
    const select = $("#inpainter");
    select.textContent = "";
    for (const name of body.inpainters) {
      const option = el("option", { value: name }, name);
      if (name === body.default_inpainter) { option.selected = true; }
      select.append(option);
    }
    $("#keybox").hidden = true;
  } catch (error) {
    $("#server").textContent = error.status === 401 ? "API key needed" : "server unreachable";
  }
}

function setJob(record) {
  $("#job").hidden = false;
  const state = $("#state");
  state.textContent = record.state;
  state.className = `pill ${record.state}`;
  $("#message").textContent = record.message || "";
  $("#progress").style.width = `${Math.round((record.progress || 0) * 100)}%`;
}

async function follow(first) {
  let record = first;
  setJob(record);
  while (record.state === "queued" || record.state === "running") {
    await new Promise((resolve) => setTimeout(resolve, 400));
    record = (await api(record.url)).body;
    setJob(record);
  }
  if (record.state !== "done") {
    throw Object.assign(new Error(record.error ? record.error.message : record.message),
      { code: record.error ? record.error.code : record.state });
  }
  return record;
}

async function submit(path, form) {
  const { body } = await api(`${path}?wait=0`, { method: "POST", body: form });
  return follow(body);
}

function components(values) {
  const rows = el("div", { class: "comps" });
  for (const [name, value] of Object.entries(values)) {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${Math.round(Math.max(0, Math.min(1, value)) * 100)}%`;
    rows.append(el("div", { class: "comp" }, el("span", {}, name),
      el("div", { class: "track" }, fill), el("span", {}, value.toFixed(3))));
  }
  return rows;
}

async function candidateCard(job, cand) {
  const image = el("img", { alt: `candidate ${cand.rank + 1}` });
  image.src = await blobUrl(cand.files.image);
  const download = el("a", { class: "button secondary download", download: `staged-${cand.rank + 1}.png`, href: image.src }, "Download");
  const animateButton = el("button", { class: "animate" }, "Animate");
  const loop = el("div", { class: "loop" });
  const body = el("div", { class: "body" },
    el("div", { class: "score" }, `${cand.score.toFixed(3)} `, el("small", {}, `${cand.category} · ${cand.catalog_id}`)),
    components(cand.components));
  if (cand.files.sheet) {
    const sheet = el("img", { alt: "scene, removed, filled, staged" });
    sheet.src = await blobUrl(cand.files.sheet);
    body.append(el("figure", { class: "sheet" }, sheet,
      el("figcaption", {}, "retrieved scene · product removed (magenta: generated) · hole filled · staged")));
  }
  body.append(loop, el("div", { class: "actions" }, animateButton, download));
  animateButton.addEventListener("click", async () => {
    animateButton.disabled = true;
    animateButton.textContent = "Animating…";
    try {
      const form = new FormData();
      form.append("source", job.id);
      form.append("candidate", String(cand.rank));
      form.append("format", "webp");
      form.append("size", "source");
      form.append("duration", "2");
      form.append("fps", "12");
      const done = await submit("/v1/animate", form);
      const video = el("img", { alt: "parallax loop" });
      video.src = await blobUrl(done.result.files.video);
      loop.append(video, el("p", { class: "hint" },
        `parallax loop: ${done.result.frames} frames at ${done.result.fps} fps · segmenter ${done.result.provenance.segmenter}`));
      const save = el("a", { class: "button secondary download-loop", download: `loop-${cand.rank + 1}.webp`, href: video.src }, "Download loop");
      animateButton.replaceWith(save);
    } catch (error) {
      showError(error);
      animateButton.disabled = false;
      animateButton.textContent = "Animate";
    }
  });
  return el("article", { class: "card candidate" },
    el("div", { class: "shot" }, image, el("span", { class: "rank" }, `#${cand.rank + 1}`)), body);
}

async function stage() {
  $("#error").hidden = true;
  $("#results").textContent = "";
  $("#provenance").textContent = "";
  $("#stage").disabled = true;
  try {
    const form = new FormData();
    form.append("image", file);
    form.append("k", $("#k").value);
    form.append("inpainter", $("#inpainter").value || "telea");
    form.append("shadow", $("#shadow").value);
    const box = $("#box").value.trim();
    if (box) { form.append("box", box); }
    const job = await submit("/v1/stage", form);
    const p = job.result.provenance;
    $("#provenance").textContent = `segmented by ${p.segmenter}, scenes retrieved by ${p.embedder}, holes filled by ${p.inpainter}`;
    for (const cand of job.result.candidates) {
      $("#results").append(await candidateCard(job, cand));
    }
  } catch (error) {
    showError(error);
  } finally {
    $("#stage").disabled = !file;
  }
}

function choose(chosen) {
  if (!chosen) { return; }
  file = chosen;
  const preview = $("#preview");
  preview.src = URL.createObjectURL(chosen);
  preview.hidden = false;
  $("#droptext").hidden = true;
  $("#stage").disabled = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("#file").addEventListener("change", (event) => choose(event.target.files[0]));
  const drop = $("#drop");
  drop.addEventListener("dragover", () => drop.classList.add("over"));
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", () => drop.classList.remove("over"));
  $("#stage").addEventListener("click", stage);
  $("#keyform").addEventListener("submit", (event) => {
    event.preventDefault();
    apiKey = $("#key").value.trim();
    sessionStorage.setItem("adstage-key", apiKey);
    loadInfo();
  });
  loadInfo();
});
