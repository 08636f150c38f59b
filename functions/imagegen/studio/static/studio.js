// imagegen studio: plain JS against /api (docs/studio.md). No build step.
"use strict";

const $ = (id) => document.getElementById(id);
const USER_KEY = "imagegen-studio-user";
const POLL_MS = 1000;
const TERMINAL = new Set(["succeeded", "blocked", "failed", "cancelled"]);

const state = {
  models: [], byId: {}, refs: [], parent: null, current: null, pollTimer: null,
  nextBefore: null, estimateTimer: null, local: false,
};

// ---- API -----------------------------------------------------------------------------
function localUser() {
  const fromUrl = new URLSearchParams(location.search).get("user");
  if (fromUrl) localStorage.setItem(USER_KEY, fromUrl);
  return localStorage.getItem(USER_KEY) || "";
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  const user = localUser();
  if (user) headers["X-Imagegen-Caller"] = user; // honoured by the local stack only
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const err = new Error((data && data.error && data.error.message) || response.statusText);
    err.status = response.status;
    err.details = (data && data.error && data.error.details) || [];
    throw err;
  }
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function money(v) { return v === undefined || v === null ? "—" : `$${Number(v).toFixed(4)}`; }

function showErrors(err) {
  const box = $("form-errors");
  box.replaceChildren(el("p", { text: err.message }));
  for (const d of err.details || []) box.append(el("p", { text: `${d.field}: ${d.message}` }));
}

// ---- identity --------------------------------------------------------------------------
async function loadMe() {
  try {
    const me = await api("GET", "/api/me");
    $("user-name").textContent = me.caller;
    state.local = !!me.local;
  } catch (err) {
    if (err.status !== 401) throw err;
    $("user-name").textContent = "nobody yet";
    state.local = true;
  }
  $("local-user-form").hidden = !state.local;
  $("local-user").value = localUser();
  return state.local && !localUser() ? null : true;
}

// ---- model picker and estimate -----------------------------------------------------------
function fillSelect(select, values, chosen, labels) {
  select.replaceChildren(...values.map((v) =>
    el("option", { value: v, text: labels ? labels(v) : v, selected: v === chosen ? "" : null })));
  select.disabled = values.length <= 1;
}

function onModelChange() {
  const m = state.byId[$("model").value];
  if (!m) return;
  const sizes = Object.keys(m.image_sizes);
  const size = sizes.includes($("image_size").value) ? $("image_size").value : m.default_size;
  fillSelect($("image_size"), sizes, size, (s) =>
    `${s} — $${m.price_usd_per_image[s].toFixed(4)}/image${(m.preview_sizes || []).includes(s) ? " (Preview)" : ""}`);
  onSizeChange();
  const levels = m.thinking_levels || [];
  fillSelect($("thinking_level"), ["", ...levels], "", (l) => l || "model default");
  $("thinking_level").disabled = levels.length === 0;
  $("number_of_images").max = m.max_images;
}

function onSizeChange() {
  const m = state.byId[$("model").value];
  const table = m.image_sizes[$("image_size").value] || {};
  const previous = $("aspect_ratio").value;
  const ratios = Object.keys(table);
  fillSelect($("aspect_ratio"), ["", ...ratios], ratios.includes(previous) ? previous : "",
    (r) => (r ? `${r} (${table[r]})` : "as the input / model default"));
  $("aspect_ratio").disabled = false;
  $("model-info").textContent =
    `${m.display_name}: sizes ${Object.keys(m.image_sizes).join(", ")}; ` +
    `${m.aspect_ratios.length} ratios; thinking ${(m.thinking_levels || []).join("/") || "—"}; ` +
    `up to ${m.max_reference_images} reference images; ` +
    `$${m.price_usd_per_input_image.toFixed(4)} per input image`;
  scheduleEstimate();
}

function requestBody() {
  const body = { prompt: $("prompt").value.trim(), model: $("model").value };
  const size = $("image_size").value, ratio = $("aspect_ratio").value, level = $("thinking_level").value;
  const n = parseInt($("number_of_images").value, 10);
  if (size) body.image_size = size;
  if (ratio) body.aspect_ratio = ratio;
  if (level) body.thinking_level = level;
  if (n && n !== 1) body.number_of_images = n;
  if (state.refs.length) body.reference_images = state.refs.map((r) => r.ref);
  if (state.parent) body.parent_job_id = state.parent;
  return body;
}

function scheduleEstimate() {
  clearTimeout(state.estimateTimer);
  state.estimateTimer = setTimeout(estimate, 150);
}

async function estimate() {
  const body = requestBody();
  if (!body.prompt) body.prompt = "estimate";
  try {
    const e = await api("POST", "/api/estimate", body);
    $("estimate").textContent = `Estimated cost: ${money(e.estimated_cost_usd)}`;
    $("estimate").dataset.usd = e.estimated_cost_usd;
  } catch (err) {
    $("estimate").textContent = `Estimated cost: — (${err.message})`;
  }
}

// ---- references --------------------------------------------------------------------------
function renderRefs() {
  $("ref-list").replaceChildren(...state.refs.map((r, i) => el("li", {},
    el("img", { src: r.preview, alt: `reference ${i + 1}` }),
    el("button", { type: "button", text: "Remove", "aria-label": `Remove reference ${i + 1}`,
      onclick: () => { state.refs.splice(i, 1); renderRefs(); scheduleEstimate(); } }))));
}

function addFiles(files) {
  for (const file of files) {
    if (!/^image\/(png|jpeg|webp)$/.test(file.type)) {
      showErrors(new Error(`${file.name}: not a PNG, JPEG or WebP image`));
      continue;
    }
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      state.refs.push({ preview: url, ref: { data: url.split(",", 2)[1], mime_type: file.type } });
      renderRefs(); scheduleEstimate();
    };
    reader.readAsDataURL(file);
  }
}

function addOutputRef(job, output) {
  state.refs.push({ preview: output.url, ref: { job_id: job.id, index: output.index } });
  renderRefs(); scheduleEstimate();
  $("prompt").focus();
}

// ---- submit and live status -----------------------------------------------------------------
async function submitJob(event) {
  if (event) event.preventDefault();
  $("form-errors").replaceChildren();
  const body = requestBody();
  if (!body.prompt) { showErrors(new Error("write a prompt first")); $("prompt").focus(); return; }
  $("submit").disabled = true;
  try {
    const job = await api("POST", "/api/jobs", body);
    state.refs = []; renderRefs();
    setParent(null);
    showJob(job);
    watch(job.id);
    refreshGallery();
  } catch (err) {
    showErrors(err);
  } finally {
    $("submit").disabled = false;
  }
}

function watch(jobId) {
  clearTimeout(state.pollTimer);
  const tick = async () => {
    try {
      const job = await api("GET", `/api/jobs/${jobId}`);
      if (!state.current || state.current.id !== jobId) return;
      showJob(job);
      if (TERMINAL.has(job.state)) { refreshGallery(); return; }
    } catch (err) { $("job-status").textContent = `status unavailable: ${err.message}`; }
    state.pollTimer = setTimeout(tick, POLL_MS);
  };
  state.pollTimer = setTimeout(tick, POLL_MS);
}

function servedBy(job) {
  return (job.served_by && job.served_by.model) || (TERMINAL.has(job.state) ? "—" : `${job.model} (pending)`);
}

function reason(job) {
  if (job.state === "blocked") {
    const why = (job.blocked_images || []).map((b) => b.reason || b.message).filter(Boolean);
    return (job.error && job.error.message) || why.join("; ") || "blocked by the model's safety filters";
  }
  if (job.error) return `${job.error.code || "error"}: ${job.error.message || ""}`;
  return "";
}

// One output's provenance as a badge: its Content Credentials (C2PA), read from the stored
// file by the worker, and SynthID. Nothing when the job records neither.
function provenanceBadge(o) {
  const c = o.content_credentials;
  if (!c && !o.synthid) return null;
  let text = "SynthID", kind = "none", title = "SynthID watermark in the pixels";
  if (c && c.present && c.valid) {
    kind = "valid";
    text = "Content Credentials ✓";
    title = ["C2PA valid", c.issuer && `signed by ${c.issuer}`, c.digital_source_type, c.claim_generator]
      .filter(Boolean).join(" · ");
  } else if (c && c.present) {
    kind = "invalid";
    text = "Content Credentials ✗";
    title = `C2PA invalid: ${(c.errors || []).join(", ") || c.validation_state || "invalid"}`;
  } else if (c) {
    text = "No Content Credentials";
    title = "the image carries no C2PA manifest";
  }
  if (o.synthid && kind !== "none") title += " · SynthID";
  return el("span", { class: `badge c2pa-${kind}`, text, title, "data-c2pa": kind });
}

function showJob(job) {
  state.current = job;
  $("job").hidden = false;
  $("job-id").textContent = job.id;
  const why = reason(job);
  const status = $("job-status");
  status.textContent = `Status: ${job.state}${why ? ` — ${why}` : ""}`;
  status.className = `status ${job.state}`;
  status.dataset.state = job.state;
  $("job-images").replaceChildren(...(job.outputs || []).map((o) => el("figure", {},
    el("img", { src: o.url, alt: `output ${o.index} of job ${job.id}`, width: o.width, height: o.height }),
    el("figcaption", {},
      el("span", { text: o.width && o.height ? `${o.width}×${o.height}` : "" }),
      provenanceBadge(o),
      el("a", { href: `/api/jobs/${job.id}/outputs/${o.index}`, download: `${job.id}-${o.index}`,
        text: "Download", onclick: (ev) => download(ev, job, o) }),
      el("button", { type: "button", text: "Use as reference", onclick: () => addOutputRef(job, o) })))));
  const req = job.request || {};
  const delivered = (job.outputs || []).map((o) => `${o.width}×${o.height}`).join(", ");
  const facts = [
    ["Prompt", req.prompt], ["Model asked for", req.model_requested || req.model],
    ["Served by", servedBy(job)], ["Region", (job.served_by && job.served_by.location) || job.region], ["Size asked", [req.image_size, req.aspect_ratio].filter(Boolean).join(" ")],
    ["Delivered", delivered || "—"], ["Estimated cost", money(job.estimated_cost_usd)],
    ["Cost", money(job.cost_usd)], ["Refines", job.parent_job_id || "—"],
    ["Created", job.created_at], ["Finished", job.finished_at || "—"],
  ];
  $("job-facts").replaceChildren(...facts.flatMap(([k, v]) =>
    [el("dt", { text: k }), el("dd", { text: v === undefined || v === null ? "—" : String(v), "data-fact": k })]));
  $("job-warnings").replaceChildren(...(job.warnings || []).map((w) => el("p", { text: `Warning: ${w}` })));
  $("refine").disabled = job.state !== "succeeded";
  $("cancel").disabled = job.state !== "queued";
}

async function download(event, job, output) {
  // The API answers a 302 to a fresh signed URL; the link needs our identity header locally,
  // so fetch the bytes and save them under a readable name.
  event.preventDefault();
  try {
    const fresh = await api("GET", `/api/jobs/${job.id}`);
    const out = (fresh.outputs || []).find((o) => o.index === output.index) || output;
    const blob = await (await fetch(out.url)).blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: `${job.id}-${output.index}.${(out.mime_type || "image/png").split("/")[1]}` });
    document.body.append(link); link.click(); link.remove();
  } catch (err) { showErrors(err); }
}

function setParent(jobId) {
  state.parent = jobId;
  $("refine-banner").hidden = !jobId;
  $("refine-id").textContent = jobId || "";
  $("submit").textContent = jobId ? "Refine" : "Generate";
  scheduleEstimate();
}

// ---- gallery -------------------------------------------------------------------------------
function card(job) {
  const first = (job.outputs || [])[0];
  const thumb = first && first.url
    ? el("img", { src: first.url, alt: job.request ? job.request.prompt : job.id, loading: "lazy" })
    : el("div", { class: "noimg", text: job.state });
  return el("li", { "data-job": job.id },
    el("a", { href: `#job=${job.id}` },
      thumb,
      el("div", { class: "cap" },
        el("span", { text: (job.request && job.request.prompt) || "" }),
        el("span", { text: `${job.state} · ${servedBy(job)}` }))));
}

async function refreshGallery() {
  const page = await api("GET", "/api/jobs");
  $("gallery").replaceChildren(...page.jobs.map(card));
  state.nextBefore = page.next_before;
  $("more").hidden = !page.next_before;
}

async function moreGallery() {
  if (!state.nextBefore) return;
  const page = await api("GET", `/api/jobs?before=${encodeURIComponent(state.nextBefore)}`);
  $("gallery").append(...page.jobs.map(card));
  state.nextBefore = page.next_before;
  $("more").hidden = !page.next_before;
}

async function openJob(jobId) {
  try {
    const job = await api("GET", `/api/jobs/${jobId}`);
    showJob(job);
    if (!TERMINAL.has(job.state)) watch(job.id);
    $("job-title").scrollIntoView({ block: "nearest" });
    $("job").focus && $("refine").focus();
  } catch (err) { showErrors(err); }
}

// ---- batches (issue 29) ----------------------------------------------------------------------
const BATCH_ENDED = new Set(["succeeded", "partially_succeeded", "failed", "cancelled"]);

function batchRow(b) {
  const c = b.counts;
  const ended = c.total - c.pending;
  const label = `batch ${b.id}: ${ended} of ${c.total} items ended`;
  return el("li", { "data-batch": b.id, class: `batch ${b.state}` },
    el("div", { class: "batch-head" },
      el("code", { text: b.id }),
      el("span", { class: `status ${b.state}`, text: b.state.replace("_", " ") }),
      el("span", { text: new Date(b.created_at).toLocaleString() })),
    el("progress", { max: String(c.total), value: String(ended), "aria-label": label }),
    el("p", { class: "batch-counts",
      text: `${ended}/${c.total} ended · ${c.succeeded} succeeded · ${c.failed} failed · ` +
        `${c.blocked} blocked · ${c.cancelled} cancelled · ${money(b.cost_usd)} of ` +
        `${money(b.estimated_cost_usd)} estimated` }));
}

async function refreshBatches() {
  const page = await api("GET", "/api/batches?limit=10");
  $("batch-list").replaceChildren(...page.batches.map(batchRow));
  $("batches").hidden = page.batches.length === 0;
  clearTimeout(state.batchTimer);
  if (page.batches.some((b) => !BATCH_ENDED.has(b.state))) {
    state.batchTimer = setTimeout(() => refreshBatches().catch(showErrors), 3000);
  }
}

// ---- wiring --------------------------------------------------------------------------------
function wire() {
  $("job-form").addEventListener("submit", submitJob);
  $("prompt").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) submitJob(ev);
  });
  $("model").addEventListener("change", onModelChange);
  $("image_size").addEventListener("change", onSizeChange);
  for (const id of ["aspect_ratio", "thinking_level", "number_of_images"]) {
    $(id).addEventListener("change", scheduleEstimate);
    $(id).addEventListener("input", scheduleEstimate);
  }
  const drop = $("drop");
  drop.addEventListener("click", () => $("file").click());
  drop.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); $("file").click(); } });
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); addFiles(ev.dataTransfer.files); });
  $("file").addEventListener("change", (ev) => addFiles(ev.target.files));
  $("refine").addEventListener("click", () => {
    if (!state.current) return;
    setParent(state.current.id);
    $("prompt").value = "";
    $("prompt").focus();
  });
  $("refine-cancel").addEventListener("click", () => setParent(null));
  $("cancel").addEventListener("click", async () => {
    try { showJob(await api("DELETE", `/api/jobs/${state.current.id}`)); refreshGallery(); } catch (err) { showErrors(err); }
  });
  $("more").addEventListener("click", moreGallery);
  window.addEventListener("hashchange", () => {
    const id = new URLSearchParams(location.hash.slice(1)).get("job");
    if (id) openJob(id);
  });
  $("local-user-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    localStorage.setItem(USER_KEY, $("local-user").value.trim());
    const url = new URL(location.href); url.searchParams.delete("user");
    location.replace(url.toString());
  });
}

async function start() {
  wire();
  if (!(await loadMe())) { $("local-user").focus(); return; }
  const catalog = await api("GET", "/api/models");
  state.models = catalog.models;
  state.byId = Object.fromEntries(catalog.models.map((m) => [m.id, m]));
  fillSelect($("model"), catalog.models.map((m) => m.id), catalog.default, (id) => {
    const m = state.byId[id];
    return `${m.display_name} (${id}) — from $${Math.min(...Object.values(m.price_usd_per_image)).toFixed(4)}/image`;
  });
  $("model").disabled = false;
  onModelChange();
  await refreshGallery();
  await refreshBatches();
  const hash = new URLSearchParams(location.hash.slice(1)).get("job");
  if (hash) openJob(hash);
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", () => {
  start().catch((err) => showErrors(err));
});
