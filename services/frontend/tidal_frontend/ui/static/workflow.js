// One run: header, payloads, pending work, timeline, history (compact, full, JSON), actions, queries.
import { api, wfPath } from "./api.js";
import { h, kv, fmtTime, fmtDuration, duration, statusChip, payloadsView, failureView, errorBox, wfHref, tqHref, enc } from "./util.js";
import { groupEvents, timelineView } from "./timeline.js";

const REFRESH_MS = 2000;
const MAX_EVENTS = 50000;

const PAGE = 1000;

async function historyPage(ns, id, runId, after) {
  return api(wfPath(ns, id) + "/history", { params: { run_id: runId, page_size: PAGE, next_page_token: after } });
}

// Keyset pages by event id: a running run's history is extended from the last event seen.
// `known` is the history length describe gave: event ids are contiguous per run, so the pages up
// to it are fetched at once rather than one after another (a 10,000-event history: one round
// trip of 10 requests instead of 10 round trips); past it, page by page.
async function moreEvents(ns, id, runId, events, known = 0) {
  const first = events.length ? events[events.length - 1].event_id : 0;
  const afters = [];
  for (let a = first; a < Math.min(known, MAX_EVENTS); a += PAGE) afters.push(a);
  let token = first ? String(first) : null;
  if (afters.length > 1) {
    const pages = await Promise.all(afters.map((a) => historyPage(ns, id, runId, a ? String(a) : null)));
    for (const page of pages) {
      // Not the page that follows (retention deleted the run meanwhile): stop at the gap.
      const expected = events.length ? events[events.length - 1].event_id + 1 : 1;
      if (!page.events.length || page.events[0].event_id !== expected) return;
      events.push(...page.events);
    }
    token = pages[pages.length - 1].next_page_token;
    if (!token) return;
  }
  for (;;) {
    const page = await historyPage(ns, id, runId, token);
    events.push(...page.events);
    if (!page.next_page_token || events.length >= MAX_EVENTS) return;
    token = page.next_page_token;
  }
}

// The run chain: a continue-as-new or a retry (attempt > 1) of a failed run starts a new run of
// the same workflow id; each run's first event names the first and the previous run, and the
// result of a closed one names the next.
function runLinks(ns, d, events, result) {
  const started = (events[0] && events[0].attributes) || {};
  const links = [];
  const link = (label, id, run, cls) => links.push(h("a", { href: wfHref(ns, id, run), class: `chain ${cls}` }, label));
  const retry = started.attempt > 1;
  if (started.first_execution_run_id && started.first_execution_run_id !== d.run_id) link("first run", d.workflow_id, started.first_execution_run_id, "chain-first");
  if (started.continued_execution_run_id) link(retry ? "← previous attempt" : "← continued from", d.workflow_id, started.continued_execution_run_id, "chain-prev");
  if (result && result.new_run_id) link(d.status === "ContinuedAsNew" ? "continued as new →" : "retried as →", d.workflow_id, result.new_run_id, "chain-next");
  if (started.parent_workflow_id) link(`parent ${started.parent_workflow_id}`, started.parent_workflow_id, started.parent_run_id, "chain-parent");
  links.push(h("a", { href: `#/namespaces/${enc(ns)}/workflows?query=${enc(`WorkflowId = '${d.workflow_id.replace(/'/g, "''")}'`)}`, class: "chain chain-all" }, "all runs of this id"));
  return links.flatMap((l, i) => (i ? [" · ", l] : [l]));
}

function header(ns, d, events, result) {
  const started = (events[0] && events[0].attributes) || {};
  return h("div", { class: "wf-header" },
    h("h2", {}, statusChip(d.status), " ", h("span", { id: "wf-type" }, d.workflow_type)),
    kv([
      ["Workflow id", h("span", { class: "mono", id: "wf-id" }, d.workflow_id)],
      ["Run id", h("span", { class: "mono", id: "wf-run-id" }, d.run_id)],
      ["Task queue", h("a", { href: tqHref(ns, d.task_queue) }, d.task_queue)],
      ["Start", fmtTime(d.start_time)],
      ["Close", d.close_time ? fmtTime(d.close_time) : h("span", { class: "muted" }, "running")],
      ["Duration", duration(d.start_time, d.close_time)],
      ["History length", String(d.history_length)],
      started.attempt > 1 ? ["Attempt", String(started.attempt)] : null,
      d.static_summary ? ["Summary", h("span", { id: "wf-summary" }, d.static_summary)] : null,
      d.static_details ? ["Details", h("pre", { id: "wf-details" }, d.static_details)] : null,
      // workflow.set_current_details, as of the last completed workflow task.
      d.current_details ? ["Current details", h("pre", { id: "wf-current-details" }, d.current_details)] : null,
      ["Runs", h("span", { id: "run-chain" }, runLinks(ns, d, events, result))],
    ]));
}

function ioSection(d, events, result) {
  const started = (events[0] && events[0].attributes) || {};
  return h("div", { class: "grid2" },
    h("div", {}, h("h3", {}, "Input"), payloadsView(started.input)),
    h("div", {}, h("h3", {}, result && result.failure ? "Failure" : "Result"),
      !result ? h("span", { class: "muted" }, d.status === "Running" ? "running" : "—")
        : result.failure ? failureView(result.failure)
          : result.result ? payloadsView(result.result) : h("span", { class: "muted" }, d.status)),
    h("div", {}, h("h3", {}, "Memo"), Object.keys(d.memo || {}).length
      ? kv(Object.entries(d.memo).map(([k, v]) => [k, payloadsView([v])])) : h("span", { class: "muted" }, "none")),
    h("div", {}, h("h3", {}, "Search attributes"), Object.keys(d.search_attributes || {}).length
      ? kv(Object.entries(d.search_attributes).map(([k, v]) => [k, h("code", {}, JSON.stringify(v))])) : h("span", { class: "muted" }, "none")));
}

const STATE_LABEL = { Scheduled: "scheduled", Started: "started", BackingOff: "backing off", CancelRequested: "cancel requested" };

// One pending activity: where it stands, why the last attempt failed, when the next one runs,
// and what it last reported (heartbeat details are payloads: JSON, or marked as encoded).
function pendingActivity(a) {
  const attempts = a.maximum_attempts ? `${a.attempt} of ${a.maximum_attempts}` : `${a.attempt} (no limit)`;
  return h("div", { class: "pending-activity", "data-activity-id": a.activity_id },
    h("div", { class: "pa-head" },
      h("b", {}, a.activity_type), " ", h("span", { class: "muted mono" }, `#${a.activity_id}`), " ",
      h("span", { class: `pa-state ps-${a.state}` }, STATE_LABEL[a.state] || a.state)),
    kv([
      ["Attempt", h("span", { class: "pa-attempt" }, attempts)],
      ["Scheduled", fmtTime(a.scheduled_time)],
      a.next_attempt_schedule_time ? ["Next retry", h("span", { class: "pa-next-retry" },
        fmtTime(a.next_attempt_schedule_time), " ", h("span", { class: "muted" }, `(in ${untilNow(a.next_attempt_schedule_time)})`))] : null,
      a.last_attempt_complete_time ? ["Last attempt ended", fmtTime(a.last_attempt_complete_time)] : null,
      a.last_started_time ? ["Started", fmtTime(a.last_started_time)] : null,
      a.last_heartbeat_time ? ["Last heartbeat", h("span", { class: "pa-heartbeat-time" }, fmtTime(a.last_heartbeat_time))] : null,
      a.expiration_time ? ["Expires", fmtTime(a.expiration_time)] : null,
      a.last_worker_identity ? ["Worker", h("span", { class: "mono pa-worker" }, a.last_worker_identity)] : null,
      a.heartbeat_details && a.heartbeat_details.length ? ["Heartbeat details", h("div", { class: "pa-details" }, payloadsView(a.heartbeat_details))] : null,
      a.last_failure ? ["Last failure", h("div", { class: "pa-failure" }, failureView(a.last_failure))] : null,
    ]));
}

// A refresh redraws the box: keep the <details> the reader opened (a stack trace) open.
function keepOpen(box, redraw) {
  const open = [...box.querySelectorAll("details")].map((el) => el.open);
  redraw();
  box.querySelectorAll("details").forEach((el, i) => { if (open[i]) el.open = true; });
}

function untilNow(iso) {
  const ms = new Date(iso) - new Date();
  return ms > 0 ? fmtDuration(ms) : "due";
}

function pendingSection(d, events) {
  // Children from describe (initiated, not closed) and from history (the ones already closed).
  const pendingKids = d.pending_children || [];
  const pendingIds = new Set(pendingKids.map((c) => c.initiated_id));
  const closedKids = groupEvents(events).groups.filter((g) => g.kind === "child" && !pendingIds.has(g.events[0].event_id));
  const acts = d.pending_activities || [], timers = d.pending_timers || [];
  return h("div", { id: "pending" },
    h("h3", {}, "Pending activities"),
    acts.length ? h("div", { id: "pending-activities" }, acts.map(pendingActivity)) : h("p", { class: "muted" }, "none"),
    h("h3", {}, "Pending timers"),
    timers.length ? h("ul", { id: "pending-timers" }, timers.map((t) => h("li", {}, `${t.timer_id}: fires at ${fmtTime(t.fire_at)} (in ${untilNow(t.fire_at)})`))) : h("p", { class: "muted" }, "none"),
    d.pending_workflow_task ? h("p", {}, `Workflow task pending (attempt ${d.pending_workflow_task.attempt}, scheduled ${fmtTime(d.pending_workflow_task.scheduled_time)})`) : null,
    d.last_workflow_task_failure ? h("div", {}, h("h3", {}, "Workflow task failing"),
      failureView({ type: d.last_workflow_task_failure.type, message: `${d.last_workflow_task_failure.cause || ""}: ${d.last_workflow_task_failure.message}` })) : null,
    h("h3", {}, "Children"),
    pendingKids.length || closedKids.length ? h("ul", { id: "children" },
      pendingKids.map((c) => h("li", { class: "pending-child" },
        c.run_id ? h("a", { href: wfHref(c.namespace || d.namespace, c.workflow_id, c.run_id) }, `${c.workflow_type_name} ${c.workflow_id}`) : `${c.workflow_type_name} ${c.workflow_id}`,
        h("span", { class: "muted" }, c.run_id ? " — running" : " — starting"),
        c.parent_close_policy && c.parent_close_policy !== "Terminate" ? h("span", { class: "muted" }, ` (on parent close: ${c.parent_close_policy})`) : null)),
      closedKids.map((c) => h("li", {}, c.child ? h("a", { href: wfHref(d.namespace, c.child.workflow_id, c.child.run_id) }, c.label) : c.label, ` — ${c.outcome}`)))
      : h("p", { class: "muted" }, "none"));
}

function compactView(events) {
  const { groups, points } = groupEvents(events);
  const items = [
    ...groups.map((g) => ({ time: g.start, el: h("li", { class: `grp o-${g.outcome}` },
      h("b", {}, g.label), g.attempt > 1 ? ` (attempt ${g.attempt})` : "", ": ",
      g.events.map((e) => e.attributes.type.replace(/^(WorkflowTask|ActivityTask|Timer|ChildWorkflowExecution|StartChildWorkflowExecution)/, "")).join(" → "),
      g.end ? ` · ${duration(g.start, g.end)}` : " · pending") })),
    ...points.map((p) => ({ time: p.time, el: h("li", { class: "grp point" }, h("b", {}, p.label), ` at ${fmtTime(p.time)}`) })),
  ].sort((a, b) => new Date(a.time) - new Date(b.time));
  const first = events[0], last = events[events.length - 1];
  return h("ol", { class: "compact", id: "compact" },
    first ? h("li", { class: "grp" }, h("b", {}, "Started"), ` at ${fmtTime(first.event_time)}`) : null,
    items.map((i) => i.el),
    last && /^WorkflowExecution(Completed|Failed|TimedOut|Canceled|Terminated|ContinuedAsNew)$/.test(last.attributes.type)
      ? h("li", { class: "grp" }, h("b", {}, last.attributes.type.replace("WorkflowExecution", "")), ` at ${fmtTime(last.event_time)}`) : null);
}

function eventsView(events) {
  return h("table", { class: "events", id: "events" },
    h("thead", {}, h("tr", {}, ["#", "Time", "Type", "Attributes"].map((c) => h("th", {}, c)))),
    h("tbody", {}, events.map((e) => {
      const { type, ...attrs } = e.attributes;
      return h("tr", {}, h("td", {}, String(e.event_id)), h("td", { class: "nowrap" }, fmtTime(e.event_time)),
        h("td", { class: "etype" }, type), h("td", {}, h("details", {}, h("summary", {}, summarize(attrs)), h("pre", { class: "json" }, JSON.stringify(attrs, null, 2)))));
    })));
}

function summarize(attrs) {
  const keys = ["activity_type", "activity_id", "timer_id", "signal_name", "workflow_type", "workflow_id", "attempt", "reason", "name", "marker_name"];
  const bits = keys.filter((k) => attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== "").map((k) => `${k}=${attrs[k]}`);
  if (attrs.failure) bits.push(`failure: ${attrs.failure.message}`);
  return bits.join(" ") || "attributes";
}

function parseArgs(text) {
  const t = text.trim();
  if (!t) return [];
  const v = JSON.parse(t);
  return Array.isArray(v) ? v : [v];
}

function actionsSection(ns, id, runId, reload) {
  const out = h("div", { class: "action-result", id: "action-result" });
  const run = async (what, path, body) => {
    out.replaceChildren(h("span", { class: "muted" }, `${what}…`));
    try {
      await api(wfPath(ns, id) + path, { method: "POST", body: { run_id: runId, ...body } });
      out.replaceChildren(h("span", { class: "ok" }, `${what}: accepted`));
      reload();
    } catch (err) { out.replaceChildren(errorBox(err)); }
  };
  return h("div", { class: "actions", id: "actions" },
    h("form", { id: "signal-form", onsubmit: (e) => {
      e.preventDefault();
      const f = e.target.elements;
      let args;
      try { args = parseArgs(f.args.value); } catch (err) { out.replaceChildren(errorBox(new Error("arguments are not JSON: " + err.message))); return; }
      run(`Signal ${f.name.value}`, "/signal", { signal_name: f.name.value.trim(), args });
    } },
      h("b", {}, "Signal "), h("input", { name: "name", placeholder: "signal name", required: true }),
      h("input", { name: "args", class: "wide", placeholder: 'JSON arguments, e.g. ["yes", 2]' }),
      h("button", { type: "submit" }, "Send signal")),
    h("form", { id: "cancel-form", onsubmit: (e) => { e.preventDefault(); run("Cancel", "/cancel", { reason: e.target.elements.reason.value }); } },
      h("b", {}, "Cancel "), h("input", { name: "reason", placeholder: "reason (optional)" }), h("button", { type: "submit" }, "Request cancellation")),
    h("form", { id: "terminate-form", onsubmit: (e) => { e.preventDefault(); run("Terminate", "/terminate", { reason: e.target.elements.reason.value }); } },
      h("b", {}, "Terminate "), h("input", { name: "reason", placeholder: "reason", required: true }), h("button", { type: "submit", class: "danger" }, "Terminate")),
    out);
}

function queryRunner(ns, id, runId) {
  const out = h("div", { id: "query-result" });
  return h("div", { class: "query-runner" },
    h("form", { id: "query-runner", onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target.elements;
      let args;
      try { args = parseArgs(f.args.value); } catch (err) { out.replaceChildren(errorBox(new Error("arguments are not JSON: " + err.message))); return; }
      out.replaceChildren(h("span", { class: "muted" }, "asking a worker…"));
      try {
        const r = await api(wfPath(ns, id) + "/query", { method: "POST", body: { query_name: f.name.value.trim(), run_id: runId, args } });
        const p = r.result;
        // A string (a stack trace, say) reads better as text than as a JSON literal.
        const text = p && p.metadata && p.metadata.encoding === "json/plain" && typeof p.data === "string";
        out.replaceChildren(text ? h("pre", { class: "text" }, p.data) : payloadsView([p]));
      } catch (err) {
        const known = err.problem && err.problem.known_queries;
        out.replaceChildren(errorBox(err), known && known.length ? h("p", { class: "muted" }, "known queries: " + known.join(", ")) : null);
      }
    } },
      h("input", { name: "name", placeholder: "query name", list: "known-queries", required: true }),
      h("input", { name: "args", class: "wide", placeholder: "JSON arguments (optional)" }),
      h("button", { type: "submit" }, "Run query"),
      h("button", { type: "button", id: "stack-trace", onclick: (e) => {
        const f = e.target.form;
        f.elements.name.value = "__stack_trace";
        f.elements.args.value = "";
        f.requestSubmit();
      } }, "Stack trace")),
    out);
}

export async function renderWorkflow(main, app, ns, id, runIdParam) {
  const events = [];
  let d, result;
  if (runIdParam) {
    // The run is known (links carry it): ask for everything at once.
    [d, , result] = await Promise.all([
      api(wfPath(ns, id), { params: { run_id: runIdParam } }),
      moreEvents(ns, id, runIdParam, events),
      api(wfPath(ns, id) + "/result", { params: { run_id: runIdParam } }),
      app.identity,
    ]);
  } else {
    d = await api(wfPath(ns, id));
    [, result] = await Promise.all([
      moreEvents(ns, id, d.run_id, events, d.history_length),
      api(wfPath(ns, id) + "/result", { params: { run_id: d.run_id } }),
      app.identity,
    ]);
  }
  const runId = d.run_id;
  if (result.status === "Running") result = null;
  // The three reads raced the run: catch up with what describe says.
  if (d.status !== "Running" && !result) result = await api(wfPath(ns, id) + "/result", { params: { run_id: runId } });
  if (events.length < d.history_length) await moreEvents(ns, id, runId, events, d.history_length);
  let tab = "timeline";
  let timer = null, alive = true;

  const headerBox = h("section", { class: "card" });
  const ioBox = h("section", { class: "card" });
  const pendingBox = h("section", { class: "card" });
  const tabBody = h("div", { class: "tab-body" });
  const tabs = h("div", { class: "tabs" },
    [["timeline", "Timeline"], ["compact", "Compact history"], ["events", "All events"], ["query", "Query"]].map(([k, label]) =>
      h("button", { class: "tab", "data-tab": k, id: `tab-${k}`, onclick: () => { tab = k; drawTab(); } }, label)),
    h("button", { class: "tab download", id: "download-json", onclick: () => {
      const blob = new Blob([JSON.stringify({ run_id: runId, events }, null, 2)], { type: "application/json" });
      const a = h("a", { href: URL.createObjectURL(blob), download: `${id.replace(/[^\w.-]+/g, "_")}-${runId}.json` });
      document.body.append(a); a.click(); a.remove();
    } }, "Download JSON"));
  const actionsBox = h("section", { class: "card", id: "actions-card" });
  const queryBox = queryRunner(ns, id, runId);

  function drawTab() {
    for (const b of tabs.querySelectorAll(".tab[data-tab]")) b.classList.toggle("active", b.dataset.tab === tab);
    if (tab === "timeline") tabBody.replaceChildren(timelineView(events, d));
    else if (tab === "compact") tabBody.replaceChildren(compactView(events));
    else if (tab === "events") tabBody.replaceChildren(eventsView(events));
    else tabBody.replaceChildren(queryBox);
  }
  function draw() {
    headerBox.replaceChildren(header(ns, d, events, result));
    ioBox.replaceChildren(ioSection(d, events, result));
    keepOpen(pendingBox, () => pendingBox.replaceChildren(pendingSection(d, events)));
    // Actions only for a running run and a key that may write here (readers see none).
    if (d.status === "Running" && app.canWrite(ns)) {
      if (!actionsBox.firstChild) actionsBox.replaceChildren(h("h3", {}, "Actions"), actionsSection(ns, id, runId, () => refresh()));
      actionsBox.hidden = false;
    } else {
      actionsBox.replaceChildren();
      actionsBox.hidden = true;
    }
    if (tab !== "query") drawTab();
  }
  async function refresh() {
    clearTimeout(timer);
    try {
      d = await api(wfPath(ns, id), { params: { run_id: runId } });
      await moreEvents(ns, id, runId, events, d.history_length);
      if (d.status !== "Running" && !result) result = await api(wfPath(ns, id) + "/result", { params: { run_id: runId } });
      draw();
    } catch (err) {
      headerBox.prepend(errorBox(err));
    }
    if (alive && d.status === "Running") timer = setTimeout(refresh, REFRESH_MS);
  }
  main.replaceChildren(headerBox, actionsBox, ioBox, h("section", { class: "card" }, tabs, tabBody), pendingBox);
  draw();
  drawTab();
  if (!performance.getEntriesByName("tidal:ready").length) performance.mark("tidal:ready");
  if (d.status === "Running") timer = setTimeout(refresh, REFRESH_MS);
  return () => { alive = false; clearTimeout(timer); };
}
