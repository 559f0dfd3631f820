// The schedule form: create a schedule, or edit one (prefilled from describe, sent with its
// conflict token so a concurrent change is refused rather than overwritten). What the form does
// not show (skip calendars, start/end, jitter, timeouts, retry policy, memo, search attributes,
// catch-up window, the state on update) is kept as the schedule had it. The API validates;
// its errors are shown next to the field they name (`field`, or `errors[].loc`).
import { api, enc } from "./api.js";
import { h, errorBox } from "./util.js";

const CAL_FIELDS = [
  ["second", "second", 0, 59], ["minute", "minute", 0, 59], ["hour", "hour", 0, 23],
  ["day_of_month", "day of month", 1, 31], ["month", "month", 1, 12],
  ["day_of_week", "day of week (0 = Sunday)", 0, 6], ["year", "year (empty: every)", null, null],
];
const OVERLAPS = ["skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"];

export class FormError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

// "90", "90s", "5m", "1h30m", "2d" or ISO-8601 ("PT1H") -> seconds (what the API reads).
export function parseDuration(text, field) {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const iso = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(t);
  const short = /^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s)?$/.exec(t);
  const m = (t !== "P" && iso) || (t && short);
  if (!m || !m.slice(1).some(Boolean)) throw new FormError(field, `"${t}" is not a duration (e.g. 90s, 5m, 1h30m, 2d)`);
  const [, d, hh, mm, ss] = m;
  return ((+(d || 0) * 24 + +(hh || 0)) * 60 + +(mm || 0)) * 60 + +(ss || 0);
}

function showDuration(v) {
  const sec = typeof v === "number" ? v : parseDuration(String(v), "");
  const d = Math.floor(sec / 86400), hh = Math.floor((sec % 86400) / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  return [d && `${d}d`, hh && `${hh}h`, mm && `${mm}m`, ss && `${ss}s`].filter(Boolean).join("") || "0s";
}

// "0", "9-17", "*/15", "1-31/2", "1,15" -> [{start, end, step}]; "*" -> the field's full range.
export function parseRanges(text, [name, , low, high], field) {
  const out = [];
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(part);
    if (!m || (m[1] === "*" && low === null)) throw new FormError(field, `${name}: "${part}" is not N, N-M, N-M/S or */S`);
    const [a, b] = m[1] === "*" ? [low, high] : m[1].split("-").map(Number);
    out.push({ start: a, end: b === undefined ? a : b, step: m[2] ? Number(m[2]) : 1 });
  }
  return out;
}

function showRanges(ranges, [, , low, high]) {
  return (ranges || []).map((r) => {
    const end = r.end || r.start, step = r.step || 1;
    const span = r.start === low && end === high ? "*" : end === r.start ? String(r.start) : `${r.start}-${end}`;
    return step > 1 ? `${span}/${step}` : span;
  }).join(",");
}

function calendarRow(cal, onRemove) {
  const row = h("fieldset", { class: "calendar" },
    h("legend", {}, "Calendar"),
    CAL_FIELDS.map(([name, label, low, high]) => h("label", {}, label, " ",
      h("input", { name, size: 8, value: cal ? showRanges(cal[name], [name, label, low, high]) : "", placeholder: name === "year" ? "" : "default" }))),
    h("label", {}, "comment ", h("input", { name: "comment", value: (cal && cal.comment) || "" })),
    h("button", { type: "button", class: "link", onclick: () => onRemove(row) }, "remove"));
  return row;
}

const jsonPlain = (p) => p && p.metadata && p.metadata.encoding === "json/plain";

// d: the describe answer (edit) or null (create). done(id): called after a successful write.
export function scheduleForm(ns, d, done) {
  const editing = !!d;
  const spec = d ? d.spec : {}, action = d ? d.action : {}, policies = d ? d.policies : {};
  const encoded = editing && (action.input || []).some((p) => !jsonPlain(p));
  const calendars = h("div", { id: "calendars" });
  const removeRow = (row) => row.remove();
  for (const c of spec.calendars || []) calendars.append(calendarRow(c, removeRow));
  const result = h("div", { class: "action-result", id: "schedule-form-result" });
  const field = (name, label, input, hint) => h("div", { class: "field", "data-field": name },
    h("label", {}, h("b", {}, label), " ", input), hint ? h("span", { class: "muted small" }, " ", hint) : null);

  const form = h("form", { id: "schedule-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); submit(); } },
    editing ? h("input", { type: "hidden", name: "schedule_id", value: d.schedule_id })
      : field("schedule_id", "Schedule id", h("input", { name: "schedule_id", size: 40 })),
    h("h3", { "data-field": "spec" }, "When"),
    field("spec.cron_expressions", "Cron expressions",
      h("textarea", { name: "cron", rows: 2, cols: 40 }, (spec.cron_expressions || []).join("\n")), "one a line, e.g. 0 9 * * MON-FRI"),
    field("spec.intervals", "Intervals",
      h("textarea", { name: "intervals", rows: 2, cols: 40 },
        (spec.intervals || []).map((i) => showDuration(i.every) + (i.offset && showDuration(i.offset) !== "0s" ? ` offset ${showDuration(i.offset)}` : "")).join("\n")),
      "one a line: every [offset …], e.g. 1h or 1d offset 2h"),
    h("div", { class: "field", "data-field": "spec.calendars" }, h("b", {}, "Calendars "),
      h("button", { type: "button", id: "add-calendar", onclick: () => calendars.append(calendarRow(null, removeRow)) }, "Add calendar"),
      h("span", { class: "muted small" }, " fields: N, N-M, N-M/S, */S or a list (1,15); empty: the default"), calendars),
    field("spec.time_zone_name", "Time zone", h("input", { name: "time_zone_name", value: spec.time_zone_name || "", placeholder: "UTC" })),
    h("h3", {}, "Start a workflow"),
    field("action.workflow_type", "Workflow type", h("input", { name: "workflow_type", value: action.workflow_type || "" })),
    field("action.workflow_id", "Workflow id", h("input", { name: "workflow_id", size: 40, value: action.workflow_id || "" }), "each run: <id>-<time>"),
    field("action.task_queue", "Task queue", h("input", { name: "task_queue", value: action.task_queue || "" })),
    field("action.input", "Arguments (JSON array)",
      h("textarea", { name: "args", rows: 2, cols: 40, readonly: encoded },
        encoded ? JSON.stringify(action.input) : JSON.stringify((action.input || []).map((p) => p.data))),
      encoded ? "encoded payloads: kept as stored" : "e.g. [\"order-1\", 3]"),
    h("h3", {}, "Policies"),
    field("policies.overlap", "Overlap", h("select", { name: "overlap" },
      OVERLAPS.map((o) => h("option", { value: o, selected: o === (policies.overlap || "skip") }, o)))),
    field("policies.pause_on_failure", "Pause on failure", h("input", { type: "checkbox", name: "pause_on_failure", checked: !!policies.pause_on_failure })),
    editing ? null : field("state.paused", "Start paused", h("input", { type: "checkbox", name: "paused" })),
    h("div", { class: "form-buttons" },
      h("button", { type: "submit", id: "schedule-save" }, editing ? "Save changes" : "Create schedule"),
      " ", h("button", { type: "button", class: "link", id: "schedule-form-cancel", onclick: () => done(null) }, "Cancel")),
    result);

  function clearErrors() {
    for (const el of form.querySelectorAll(".field-error")) el.remove();
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  }
  // The field an error names ("spec.intervals.0.every", ["body", "action", "task_queue"]): the
  // form field with the longest matching prefix, else the form as a whole.
  function markField(path, message) {
    const parts = path.split(".");
    for (let n = parts.length; n > 0; n--) {
      const el = form.querySelector(`[data-field="${CSS.escape(parts.slice(0, n).join("."))}"]`);
      if (el) {
        el.classList.add("invalid");
        el.append(h("div", { class: "field-error", role: "alert" }, message));
        return true;
      }
    }
    return false;
  }

  function body() {
    const f = form.elements;
    const cron = f.cron.value.split("\n").map((s) => s.trim()).filter(Boolean);
    const intervals = f.intervals.value.split("\n").map((s) => s.trim()).filter(Boolean).map((line) => {
      const [every, offset] = line.split(/\s+offset\s+/);
      return offset ? { every: parseDuration(every, "spec.intervals"), offset: parseDuration(offset, "spec.intervals") }
        : { every: parseDuration(every, "spec.intervals") };
    });
    const cals = [...calendars.querySelectorAll("fieldset.calendar")].map((row, i) => {
      // Named by position now, so an error about "spec.calendars.1" lands on the second row.
      row.dataset.field = `spec.calendars.${i}`;
      const cal = {};
      for (const def of CAL_FIELDS) {
        const text = row.querySelector(`[name=${def[0]}]`).value.trim();
        if (text) cal[def[0]] = parseRanges(text, def, `spec.calendars.${i}`);
      }
      const comment = row.querySelector("[name=comment]").value.trim();
      if (comment) cal.comment = comment;
      return cal;
    });
    let input = action.input || [];
    if (!encoded) {
      let args;
      try { args = JSON.parse(f.args.value.trim() || "[]"); } catch (err) { throw new FormError("action.input", `not JSON: ${err.message}`); }
      if (!Array.isArray(args)) throw new FormError("action.input", "the arguments are a JSON array, e.g. [\"order-1\"]");
      input = args.map((v) => ({ metadata: { encoding: "json/plain" }, data: v }));
    }
    const newSpec = { ...spec, cron_expressions: cron, intervals, calendars: cals };
    const zone = f.time_zone_name.value.trim();
    if (zone) newSpec.time_zone_name = zone; else delete newSpec.time_zone_name;
    const out = {
      spec: newSpec,
      action: { ...action, workflow_type: f.workflow_type.value.trim(), workflow_id: f.workflow_id.value.trim(), task_queue: f.task_queue.value.trim(), input },
      policies: { ...policies, overlap: f.overlap.value, pause_on_failure: f.pause_on_failure.checked },
    };
    if (editing) {
      // Update replaces the state too: send it back as it is (pause/unpause are separate).
      const s = d.state;
      out.state = { paused: s.paused, note: s.note, limited_actions: s.limited_actions, remaining_actions: s.remaining_actions };
      out.conflict_token = d.conflict_token;
    } else {
      out.schedule_id = f.schedule_id.value.trim();
      out.state = { paused: f.paused.checked };
    }
    return out;
  }

  async function submit() {
    clearErrors();
    result.replaceChildren();
    let payload;
    try { payload = body(); } catch (err) {
      if (!(err instanceof FormError) || !markField(err.field, err.message)) result.replaceChildren(errorBox(err));
      return;
    }
    const save = form.querySelector("#schedule-save");
    save.disabled = true;
    try {
      const id = editing ? d.schedule_id : payload.schedule_id;
      const path = editing ? `/namespaces/${enc(ns)}/schedules/${id.split("/").map(enc).join("/")}/update` : `/namespaces/${enc(ns)}/schedules`;
      await api(path, { method: "POST", body: payload });
      done(id);
    } catch (err) {
      const p = err.problem || {};
      if (p.field) markField(p.field, err.message);
      for (const e of Array.isArray(p.errors) ? p.errors : []) markField((e.loc || []).filter((x) => x !== "body").join("."), e.msg || "");
      if (p.code === "schedule_already_exists") markField("schedule_id", err.message);
      result.replaceChildren(errorBox(err)); // the whole answer too (a conflict names no field)
    } finally { save.disabled = false; }
  }
  return form;
}
