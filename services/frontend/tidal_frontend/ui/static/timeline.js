// The timeline: history events grouped into spans (workflow tasks, activities, timers, children)
// and points (signals, updates, markers), drawn as SVG on a shared time axis.
import { h, s, fmtDuration, fmtIsoDuration } from "./util.js";

const CLOSE = {
  WorkflowTaskCompleted: "ok", WorkflowTaskFailed: "failed", WorkflowTaskTimedOut: "failed",
  ActivityTaskCompleted: "ok", ActivityTaskFailed: "failed", ActivityTaskTimedOut: "failed", ActivityTaskCanceled: "canceled",
  TimerFired: "ok", TimerCanceled: "canceled",
  ChildWorkflowExecutionCompleted: "ok", ChildWorkflowExecutionFailed: "failed", ChildWorkflowExecutionCanceled: "canceled",
  ChildWorkflowExecutionTerminated: "failed", ChildWorkflowExecutionTimedOut: "failed", StartChildWorkflowExecutionFailed: "failed",
};

// Groups: {key, kind, label, start, end|null, outcome, events[]}. Pure: also used by the compact view.
export function groupEvents(events) {
  const groups = [];
  const byId = new Map(); // opening event id -> group
  const timers = new Map(); // timer started event id -> group
  const wft = [];
  const points = [];
  for (const e of events) {
    const a = e.attributes || {};
    const t = a.type;
    const open = (kind, label) => {
      const g = { key: `${kind}-${e.event_id}`, kind, label, start: e.event_time, end: null, outcome: "pending", events: [e], attempt: null };
      byId.set(e.event_id, g);
      groups.push(g);
      return g;
    };
    const close = (g) => {
      if (!g) return;
      g.events.push(e);
      if (CLOSE[t]) { g.end = e.event_time; g.outcome = CLOSE[t]; }
    };
    switch (t) {
      case "WorkflowTaskScheduled": { const g = open("wft", `Workflow task${a.attempt > 1 ? " (attempt " + a.attempt + ")" : ""}`); wft.push(g); break; }
      case "WorkflowTaskStarted": close(byId.get(a.scheduled_event_id)); break;
      case "WorkflowTaskCompleted": case "WorkflowTaskFailed": case "WorkflowTaskTimedOut": close(byId.get(a.scheduled_event_id)); break;
      case "ActivityTaskScheduled": open("activity", `${a.activity_type} #${a.activity_id}`); break;
      case "ActivityTaskStarted": { const g = byId.get(a.scheduled_event_id); if (g) { g.attempt = a.attempt; g.started = e.event_time; } close(g); break; }
      case "ActivityTaskCompleted": case "ActivityTaskFailed": case "ActivityTaskTimedOut": case "ActivityTaskCanceled": case "ActivityTaskCancelRequested":
        close(byId.get(a.scheduled_event_id)); break;
      case "TimerStarted": { const g = open("timer", `Timer ${a.timer_id} (${fmtIsoDuration(a.start_to_fire_timeout)})`); timers.set(e.event_id, g); break; }
      case "TimerFired": case "TimerCanceled": close(timers.get(a.started_event_id)); break;
      case "StartChildWorkflowExecutionInitiated": open("child", `Child ${a.workflow_type} ${a.workflow_id}`); break;
      case "ChildWorkflowExecutionStarted": { const g = byId.get(a.initiated_event_id); if (g) { g.child = { workflow_id: a.workflow_id, run_id: a.run_id }; } close(g); break; }
      default:
        if (t && t.startsWith("ChildWorkflowExecution") || t === "StartChildWorkflowExecutionFailed") close(byId.get(a.initiated_event_id));
        else if (t === "WorkflowExecutionSignaled") points.push({ kind: "signal", label: `Signal ${a.signal_name}`, time: e.event_time, event: e });
        else if (t === "WorkflowExecutionUpdateAccepted") points.push({ kind: "update", label: `Update ${a.name}`, time: e.event_time, event: e });
        else if (t === "MarkerRecorded") points.push({ kind: "marker", label: `Marker ${a.marker_name}`, time: e.event_time, event: e });
        else if (t === "WorkflowExecutionCancelRequested") points.push({ kind: "cancel", label: "Cancel requested", time: e.event_time, event: e });
    }
  }
  return { groups, wft, points };
}

const ROW = 22, LABEL = 260, WIDTH = 1100, MAX_ROWS = 300;

export function timelineView(events, describe) {
  if (!events.length) return h("p", { class: "muted" }, "No events.");
  const { groups, points } = groupEvents(events);
  const t0 = new Date(events[0].event_time).getTime();
  const last = new Date(events[events.length - 1].event_time).getTime();
  const t1 = Math.max(describe.close_time ? new Date(describe.close_time).getTime() : Date.now(), last, t0 + 1);
  const span = t1 - t0;
  const x = (iso) => LABEL + ((new Date(iso).getTime() - t0) / span) * (WIDTH - LABEL - 10);
  const others = groups.filter((g) => g.kind !== "wft");
  const rows = [
    { label: `Workflow ${describe.workflow_type}`, kind: "workflow", bars: [{ start: events[0].event_time, end: describe.close_time, outcome: describe.status === "Completed" ? "ok" : describe.status === "Running" ? "pending" : "failed" }] },
    { label: "Workflow tasks", kind: "wft", bars: groups.filter((g) => g.kind === "wft") },
    ...others.slice(0, MAX_ROWS).map((g) => ({ label: g.label + (g.attempt > 1 ? ` (attempt ${g.attempt})` : ""), kind: g.kind, bars: [g] })),
  ];
  if (points.length) rows.push({ label: "Signals, updates, markers", kind: "points", points });
  const height = rows.length * ROW + 30;
  const svg = s("svg", { class: "timeline", viewBox: `0 0 ${WIDTH} ${height}`, width: "100%", role: "img", "aria-label": "timeline" });
  // Axis: five ticks, relative to the first event.
  for (let i = 0; i <= 5; i++) {
    const tx = LABEL + (i / 5) * (WIDTH - LABEL - 10);
    svg.append(s("line", { x1: tx, x2: tx, y1: 0, y2: height - 18, class: "tick" }),
      s("text", { x: tx, y: height - 4, class: "axis", "text-anchor": i === 0 ? "start" : i === 5 ? "end" : "middle" }, "+" + fmtDuration((span * i) / 5)));
  }
  rows.forEach((row, i) => {
    const y = i * ROW + 4;
    const g = s("g", { class: `row row-${row.kind}` });
    g.append(s("text", { x: 4, y: y + 14, class: "label" }, row.label.length > 38 ? row.label.slice(0, 37) + "…" : row.label));
    for (const b of row.bars || []) {
      const x1 = x(b.start);
      const x2 = b.end ? x(b.end) : x(new Date(t1).toISOString());
      const rect = s("rect", { x: x1, y: y + 3, width: Math.max(x2 - x1, 2), height: ROW - 8, rx: 3, class: `bar ${row.kind} o-${b.outcome}` });
      rect.append(s("title", {}, `${b.label || row.label}: ${b.outcome}${b.end ? ", " + fmtDuration(new Date(b.end) - new Date(b.start)) : ""}`));
      g.append(rect);
      // The last attempt of an activity, from its start: what came before is waiting and retries.
      if (b.started && b.end) {
        const xs = x(b.started);
        const run = s("rect", { x: xs, y: y + 3, width: Math.max(x2 - xs, 2), height: ROW - 8, rx: 3, class: `bar attempt o-${b.outcome}` });
        run.append(s("title", {}, `attempt ${b.attempt || 1} ran ${fmtDuration(new Date(b.end) - new Date(b.started))}`));
        g.append(run);
      }
    }
    for (const p of row.points || []) {
      const px = x(p.time);
      const dot = s("path", { d: `M${px} ${y + 3} l6 8 l-6 8 l-6 -8 z`, class: `point ${p.kind}` });
      dot.append(s("title", {}, p.label));
      g.append(dot, s("text", { x: px + 9, y: y + 14, class: "plabel" }, p.label.length > 24 ? p.label.slice(0, 23) + "…" : p.label));
    }
    svg.append(g);
  });
  const note = others.length > MAX_ROWS ? h("p", { class: "muted" }, `first ${MAX_ROWS} of ${others.length} rows shown`) : null;
  return h("div", { class: "timeline-wrap", id: "timeline" }, svg, note,
    h("div", { class: "legend" }, ["ok", "failed", "canceled", "pending"].map((o) => h("span", { class: `lg o-${o}` }, o))));
}
