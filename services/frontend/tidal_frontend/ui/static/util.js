// DOM building and formatting. Everything user-controlled goes in as text, never as markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 2 : 1)} s`;
  const m = Math.floor(sec / 60), r = Math.round(sec % 60);
  if (m < 60) return `${m}m ${r}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${m % 60}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

export function duration(start, close) {
  if (!start) return "";
  const end = close ? new Date(close) : new Date();
  return fmtDuration(end - new Date(start));
}

export function statusChip(status) {
  return h("span", { class: `status st-${status}` }, status);
}

// A payload: json/plain shows its JSON value; anything else is shown as stored, marked as such.
export function payloadView(p) {
  const encoding = (p && p.metadata && p.metadata.encoding) || "?";
  if (encoding === "json/plain") return h("pre", { class: "json" }, JSON.stringify(p.data, null, 2));
  return h("div", { class: "encoded" },
    h("span", { class: "badge" }, `encoded: ${encoding}`),
    h("pre", { class: "json" }, JSON.stringify(p, null, 2)));
}

export function payloadsView(list) {
  if (!list || list.length === 0) return h("span", { class: "muted" }, "none");
  return h("div", { class: "payloads" }, list.map(payloadView));
}

export function failureView(f) {
  if (!f) return null;
  return h("div", { class: "failure" },
    h("div", { class: "failure-head" }, h("b", {}, f.type || "Error"), ": ", f.message || ""),
    f.kind && f.kind !== "application" ? h("div", { class: "muted" }, `kind: ${f.kind}${f.timeout_type ? " (" + f.timeout_type + ")" : ""}`) : null,
    f.non_retryable ? h("div", { class: "muted" }, "non-retryable") : null,
    f.stack_trace ? h("details", {}, h("summary", {}, "stack trace"), h("pre", {}, f.stack_trace)) : null,
    f.cause ? h("div", { class: "cause" }, h("div", { class: "muted" }, "caused by"), failureView(f.cause)) : null);
}

// An API error as the problem document says it: detail, stable code, and per-field errors.
export function errorBox(err) {
  const p = (err && err.problem) || {};
  const code = p.code ? ` (${p.code})` : "";
  const fields = Array.isArray(p.errors) ? p.errors.slice(0, 10) : [];
  return h("div", { class: "error", role: "alert" }, `${err.message || err}${code}`,
    fields.length ? h("ul", { class: "field-errors" }, fields.map((e) =>
      h("li", {}, h("code", {}, (e.loc || []).filter((x) => x !== "body").join(".")), ": ", e.msg || ""))) : null);
}

export function kv(rows) {
  return h("dl", { class: "kv" }, rows.filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export const enc = encodeURIComponent;
export const wfHref = (ns, id, runId) =>
  `#/namespaces/${enc(ns)}/workflows/${enc(id)}` + (runId ? `?run_id=${enc(runId)}` : "");
export const tqHref = (ns, tq) => `#/namespaces/${enc(ns)}/task-queues/${enc(tq)}`;

// pydantic writes timedeltas as ISO-8601 durations ("PT0.3S", "P1DT2H"); show them like the rest.
export function fmtIsoDuration(iso) {
  const m = /^(-)?P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(String(iso));
  if (!m) return String(iso);
  const [, neg, d, hh, mm, ss] = m;
  const ms = (((+(d || 0) * 24 + +(hh || 0)) * 60 + +(mm || 0)) * 60 + +(ss || 0)) * 1000;
  return (neg ? "-" : "") + fmtDuration(ms);
}

// The moment a page first shows its data, for bench/ui_pageload.py (once per page load).
export function markReady() {
  if (!performance.getEntriesByName("tidal:ready").length) performance.mark("tidal:ready");
}

// A destructive button asks once more in place (no window.confirm: it blocks the page).
export function confirmButton(label, confirmLabel, onConfirm, attrs = {}) {
  const btn = h("button", { type: "button", ...attrs, onclick: () => {
    if (btn.dataset.armed) { onConfirm(); return; }
    btn.dataset.armed = "1";
    btn.textContent = confirmLabel;
    btn.classList.add("danger");
  } }, label);
  return btn;
}
