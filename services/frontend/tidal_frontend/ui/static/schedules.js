// Schedules: the namespace's list (paged by schedule id) and one schedule's page (spec, action,
// state, recent and next actions); keys that may write create, edit (schedule_form.js), delete,
// pause / unpause and trigger.
import { api, enc } from "./api.js";
import { h, kv, fmtTime, fmtDuration, fmtIsoDuration, errorBox, wfHref, tqHref, payloadsView, markReady, confirmButton } from "./util.js";
import { scheduleForm } from "./schedule_form.js";

const REFRESH_MS = 5000;
const PAGE_SIZE = 50;

// Schedule ids may hold "/", like workflow ids: each segment is encoded on its own.
const schedPath = (ns, id) => `/namespaces/${enc(ns)}/schedules/${id.split("/").map(enc).join("/")}`;
export const schedHref = (ns, id) => `#/namespaces/${enc(ns)}/schedules/${enc(id)}`;
const listHref = (ns) => `#/namespaces/${enc(ns)}/schedules`;

const dur = (v) => (typeof v === "number" ? fmtDuration(v * 1000) : fmtIsoDuration(v));

// A line per part of the spec; the full spec is on the schedule's page as JSON.
function specSummary(spec) {
  const parts = [];
  for (const i of spec.intervals || []) parts.push(`every ${dur(i.every)}` + (i.offset && i.offset !== "PT0S" && i.offset !== 0 ? ` (offset ${dur(i.offset)})` : ""));
  for (const c of spec.cron_expressions || []) parts.push(`cron ${c}`);
  const cal = (spec.calendars || []).length;
  if (cal) parts.push(`${cal} calendar${cal > 1 ? "s" : ""}`);
  if (spec.time_zone_name) parts.push(`in ${spec.time_zone_name}`);
  return parts.join(", ") || "(no times)";
}

function actionLink(ns, a) {
  if (a.failed_to_start) return h("span", { class: "failure-head" }, `${fmtTime(a.scheduled_at)}: failed to start (${a.failed_to_start})`);
  // The run id arrives when the run's shard has started it; until then there is nothing to open.
  if (!a.run_id) return h("span", { class: "muted starting" }, `${fmtTime(a.scheduled_at)} → ${a.workflow_id} (starting)`);
  return h("a", { href: wfHref(ns, a.workflow_id, a.run_id) }, `${fmtTime(a.scheduled_at)} → ${a.workflow_id}`);
}

function stateChip(paused) {
  return h("span", { class: `status ${paused ? "st-Canceled" : "st-Running"} sched-state` }, paused ? "Paused" : "Active");
}

export async function renderSchedules(main, app, ns) {
  const tokens = [null];
  let page = 0, timer = null, alive = true;
  const body = h("div", { id: "schedules" });
  const pager = h("div", { class: "pager" });
  // Shown once the key's role is known (the list itself does not wait for it).
  const create = h("a", { href: `#/namespaces/${enc(ns)}/new-schedule`, id: "new-schedule", class: "button", hidden: true }, "New schedule");
  app.identity.then(() => { create.hidden = !app.canWrite(ns); });
  main.replaceChildren(h("section", { class: "card" },
    h("h2", {}, "Schedules ", h("span", { class: "muted" }, `in ${ns}`), " ", create),
    h("form", { class: "query", onsubmit: (e) => { e.preventDefault(); app.go(schedHref(ns, e.target.elements.id.value.trim())); } },
      h("input", { name: "id", placeholder: "schedule id", required: true }), h("button", { type: "submit" }, "Open")),
    body, pager));

  async function load(first = false) {
    clearTimeout(timer);
    try {
      const data = await api(`/namespaces/${enc(ns)}/schedules`, { params: { page_size: PAGE_SIZE, next_page_token: tokens[page] } });
      tokens[page + 1] = data.next_page_token;
      body.replaceChildren(data.schedules.length ? h("table", { class: "runs" },
        h("thead", {}, h("tr", {}, ["State", "Schedule id", "Workflow type", "Spec", "Next action", "Last action"].map((c) => h("th", {}, c)))),
        h("tbody", {}, data.schedules.map((s) => h("tr", { "data-schedule-id": s.schedule_id },
          h("td", {}, stateChip(s.paused), s.note ? h("div", { class: "muted small" }, s.note) : null),
          h("td", {}, h("a", { href: schedHref(ns, s.schedule_id), class: "sched-link" }, s.schedule_id)),
          h("td", {}, s.workflow_type),
          h("td", {}, specSummary(s.spec)),
          h("td", { class: "nowrap" }, s.paused ? h("span", { class: "muted" }, "paused") : fmtTime(s.next_action_times[0])),
          h("td", {}, s.recent_actions.length ? actionLink(ns, s.recent_actions[s.recent_actions.length - 1]) : h("span", { class: "muted" }, "none"))))))
        : h("p", { class: "muted", id: "no-schedules" }, "No schedules in this namespace."));
      pager.replaceChildren(
        h("button", { disabled: page === 0, onclick: () => { page -= 1; load(); } }, "← Previous"),
        h("span", { class: "muted" }, ` page ${page + 1} `),
        h("button", { disabled: !data.next_page_token, onclick: () => { page += 1; load(); } }, "Next →"));
      markReady();
    } catch (err) {
      body.replaceChildren(errorBox(err));
      if (first && err.status === 401) throw err;
    }
    if (alive) timer = setTimeout(load, REFRESH_MS);
  }
  await load(true);
  return () => { alive = false; clearTimeout(timer); };
}

function actionsForm(ns, id, d, reload, out) {
  const post = async (what, path, payload) => {
    out.replaceChildren(h("span", { class: "muted" }, `${what}…`));
    try {
      await api(`${schedPath(ns, id)}/${path}`, { method: "POST", body: payload });
      out.replaceChildren(h("span", { class: "ok" }, `${what}: done`));
      await reload();
    } catch (err) { out.replaceChildren(errorBox(err)); }
  };
  return h("div", { class: "actions", id: "schedule-actions" },
    h("form", { id: "pause-form", onsubmit: (e) => {
      e.preventDefault();
      const note = e.target.elements.note.value;
      if (d.state.paused) post("Unpause", "unpause", { note });
      else post("Pause", "pause", { note });
    } },
      h("b", {}, d.state.paused ? "Unpause " : "Pause "),
      h("input", { name: "note", class: "wide", placeholder: "note (why)" }),
      h("button", { type: "submit", id: "pause-button" }, d.state.paused ? "Unpause" : "Pause")),
    h("form", { id: "trigger-form", onsubmit: (e) => {
      e.preventDefault();
      const overlap = e.target.elements.overlap.value;
      post("Trigger", "trigger", overlap ? { overlap } : {});
    } },
      h("b", {}, "Trigger "),
      h("select", { name: "overlap" },
        h("option", { value: "" }, `overlap: the schedule's (${d.policies.overlap})`),
        ["skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"].map((o) => h("option", { value: o }, o))),
      h("button", { type: "submit", id: "trigger-button" }, "Take the action now")),
    out);
}

export async function renderSchedule(main, app, ns, id) {
  let d = await api(schedPath(ns, id));
  await app.identity;
  let timer = null, alive = true;
  const card = h("section", { class: "card" });
  const actionsBox = h("section", { class: "card", id: "schedule-actions-card" });
  // Kept across redraws: the answer to the last action stays in view.
  const out = h("div", { class: "action-result", id: "schedule-action-result" });

  function draw() {
    const info = d.info, a = d.action;
    card.replaceChildren(
      h("h2", {}, stateChip(d.state.paused), " ", h("span", { id: "schedule-id" }, d.schedule_id)),
      kv([
        ["Spec", h("span", { id: "schedule-spec" }, specSummary(d.spec))],
        d.state.note ? ["Note", h("span", { id: "schedule-note" }, d.state.note)] : null,
        d.state.limited_actions ? ["Remaining actions", String(d.state.remaining_actions)] : null,
        ["Starts", h("span", {}, h("b", {}, a.workflow_type), " as ", h("span", { class: "mono" }, `${a.workflow_id}-<time>`), " on ", h("a", { href: tqHref(ns, a.task_queue) }, a.task_queue))],
        ["Overlap", d.policies.overlap],
        ["Actions taken", h("span", { id: "schedule-num-actions" }, String(info.num_actions))],
        info.num_actions_missed_catchup_window ? ["Missed (catch-up window)", String(info.num_actions_missed_catchup_window)] : null,
        info.num_actions_skipped_overlap ? ["Skipped (overlap)", String(info.num_actions_skipped_overlap)] : null,
        info.buffer_size ? ["Buffered", String(info.buffer_size)] : null,
        ["Created", fmtTime(info.created_at)],
        info.last_updated_at ? ["Updated", fmtTime(info.last_updated_at)] : null,
      ]),
      h("div", { class: "grid2" },
        h("div", {}, h("h3", {}, "Running"), info.running_workflows.length
          ? h("ul", { id: "schedule-running" }, info.running_workflows.map((r) => h("li", {}, h("a", { href: wfHref(ns, r.workflow_id, r.run_id || null) }, r.workflow_id))))
          : h("p", { class: "muted" }, "none")),
        h("div", {}, h("h3", {}, "Next actions"), d.state.paused ? h("p", { class: "muted" }, "paused")
          : info.next_action_times.length ? h("ul", { id: "schedule-next" }, info.next_action_times.map((t) => h("li", {}, fmtTime(t)))) : h("p", { class: "muted" }, "none")),
        h("div", {}, h("h3", {}, "Recent actions"), info.recent_actions.length
          ? h("ul", { id: "schedule-recent" }, info.recent_actions.slice().reverse().map((x) => h("li", {}, actionLink(ns, x))))
          : h("p", { class: "muted", id: "schedule-recent-none" }, "none")),
        h("div", {}, h("h3", {}, "Input"), payloadsView(a.input))),
      h("details", {}, h("summary", {}, "Spec, action and policies as JSON"),
        h("pre", { class: "json" }, JSON.stringify({ spec: d.spec, action: d.action, policies: d.policies }, null, 2))));
    if (app.canWrite(ns)) {
      actionsBox.replaceChildren(h("h3", {}, "Actions"), actionsForm(ns, id, d, () => refresh(true), out),
        h("div", { class: "actions" },
          h("button", { type: "button", id: "schedule-edit", onclick: edit }, "Edit"), " ",
          confirmButton("Delete", "Confirm delete", remove, { id: "schedule-delete" })));
      actionsBox.hidden = false;
    } else {
      actionsBox.replaceChildren();
      actionsBox.hidden = true;
    }
  }
  async function refresh(afterAction = false) {
    clearTimeout(timer);
    try {
      d = await api(schedPath(ns, id));
      // A periodic refresh keeps the forms while the user is typing in them; after an action
      // they are redrawn (pause becomes unpause). A delete waiting for its confirming click is
      // kept through any redraw, or the second click would only arm a fresh button.
      const armed = actionsBox.querySelector("[data-armed]");
      const saved = armed || (!afterAction && actionsBox.contains(document.activeElement)) ? [...actionsBox.children] : null;
      draw();
      if (saved) actionsBox.replaceChildren(...saved);
    } catch (err) { card.prepend(errorBox(err)); }
    if (alive) timer = setTimeout(refresh, REFRESH_MS);
  }
  // Editing stops the refresh (it would redraw under the form) and works on the schedule as
  // described now; saving sends its conflict token, so a change made meanwhile is refused.
  async function edit() {
    clearTimeout(timer);
    try { d = await api(schedPath(ns, id)); } catch (err) { out.replaceChildren(errorBox(err)); return; }
    const formCard = h("section", { class: "card", id: "schedule-edit-card" }, h("h2", {}, "Edit ", d.schedule_id),
      scheduleForm(ns, d, (saved) => {
        main.replaceChildren(card, actionsBox);
        out.replaceChildren(saved ? h("span", { class: "ok" }, "Saved") : "");
        refresh(true);
      }));
    main.replaceChildren(formCard);
  }
  async function remove() {
    try {
      await api(schedPath(ns, id), { method: "DELETE" });
      alive = false;
      clearTimeout(timer);
      app.go(listHref(ns));
    } catch (err) { out.replaceChildren(errorBox(err)); }
  }
  main.replaceChildren(card, actionsBox);
  draw();
  timer = setTimeout(refresh, REFRESH_MS);
  return () => { alive = false; clearTimeout(timer); };
}

export async function renderNewSchedule(main, app, ns) {
  await app.identity;
  if (!app.canWrite(ns)) {
    main.replaceChildren(h("section", { class: "card" }, h("p", { class: "muted" }, "Creating a schedule needs a key with the writer role.")));
    return null;
  }
  main.replaceChildren(h("section", { class: "card", id: "schedule-new-card" },
    h("h2", {}, "New schedule ", h("span", { class: "muted" }, `in ${ns}`)),
    scheduleForm(ns, null, (id) => app.go(id ? schedHref(ns, id) : listHref(ns)))));
  return null;
}
