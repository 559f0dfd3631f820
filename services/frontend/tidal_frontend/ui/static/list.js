// Workflows list: the visibility query (shown, editable), status chips with counts, keyset pages,
// auto-refresh. Only the list and count endpoints are used.
import { api, enc } from "./api.js";
import { h, fmtTime, duration, statusChip, errorBox, wfHref, tqHref } from "./util.js";

export const STATUSES = ["Running", "Completed", "Failed", "Canceled", "Terminated", "ContinuedAsNew", "TimedOut"];
const REFRESH_MS = 5000;
const PAGE_SIZES = [20, 50, 100, 200];

const quote = (v) => "'" + String(v).replace(/'/g, "''") + "'";

// The query with a status clause added before any ORDER BY.
export function withStatus(query, status) {
  if (!status) return query;
  const clause = `ExecutionStatus = ${quote(status)}`;
  const m = /\border\s+by\b/i.exec(query);
  const filter = (m ? query.slice(0, m.index) : query).trim();
  const order = m ? " " + query.slice(m.index).trim() : "";
  return (filter ? `(${filter}) AND ${clause}` : clause) + order;
}

// The query with GROUP BY ExecutionStatus (before any ORDER BY, which counting ignores).
export function withGroupBy(query) {
  const m = /\border\s+by\b/i.exec(query);
  const filter = (m ? query.slice(0, m.index) : query).trim();
  return (filter ? filter + " " : "") + "GROUP BY ExecutionStatus";
}

function addClause(query, clause) {
  const m = /\border\s+by\b/i.exec(query);
  const filter = (m ? query.slice(0, m.index) : query).trim();
  const order = m ? " " + query.slice(m.index).trim() : "";
  return (filter ? `${filter} AND ${clause}` : clause) + order;
}

export async function renderList(main, app, ns, params) {
  const query = params.get("query") || "";
  const status = params.get("status") || "";
  // Any size the API takes may come in the URL; the selector offers the usual ones.
  const pageSize = Math.min(Math.max(parseInt(params.get("page_size"), 10) || 50, 1), 1000);
  const effective = withStatus(query, status);
  const hrefFor = (q, st, size = pageSize) => {
    const p = new URLSearchParams();
    if (q) p.set("query", q);
    if (st) p.set("status", st);
    if (size !== 50) p.set("page_size", size);
    const qs = p.toString();
    return `#/namespaces/${enc(ns)}/workflows` + (qs ? "?" + qs : "");
  };
  const tokens = [null]; // keyset tokens of the pages seen so far, for "previous"
  let page = 0;
  let timer = null;
  let autoRefresh = localStorage.getItem("tidal.autoRefresh") !== "off";

  const form = h("form", { class: "query", id: "query-form", onsubmit: (e) => {
    e.preventDefault();
    app.go(hrefFor(e.target.elements.query.value.trim(), status));
  } },
    h("input", { name: "query", id: "query", value: query, spellcheck: "false",
      placeholder: "WorkflowType = 'Order' AND StartTime > '2026-01-01T00:00:00Z'" }),
    h("button", { type: "submit" }, "Search"));
  const helpers = h("form", { class: "helpers", id: "helpers", onsubmit: (e) => {
    e.preventDefault();
    const f = e.target.elements;
    let q = query;
    if (f.type.value.trim()) q = addClause(q, `WorkflowType = ${quote(f.type.value.trim())}`);
    if (f.idprefix.value.trim()) q = addClause(q, `WorkflowId STARTS_WITH ${quote(f.idprefix.value.trim())}`);
    if (f.since.value) q = addClause(q, `StartTime >= ${quote(new Date(f.since.value).toISOString())}`);
    app.go(hrefFor(q, status));
  } },
    h("input", { name: "type", id: "filter-type", placeholder: "workflow type" }),
    h("input", { name: "idprefix", id: "filter-id", placeholder: "id prefix" }),
    h("label", {}, "started after ", h("input", { name: "since", type: "datetime-local" })),
    h("button", { type: "submit" }, "Add to query"));
  const chips = h("div", { class: "chips", id: "chips" });
  // The API's 400 for a query it cannot parse, shown under the box (the page stays usable).
  const queryError = h("div", { id: "query-error" });
  const table = h("div", { id: "runs" });
  const pager = h("div", { class: "pager" });
  const refresh = h("label", { class: "refresh" },
    h("input", { type: "checkbox", id: "auto-refresh", checked: autoRefresh, onchange: (e) => {
      autoRefresh = e.target.checked;
      localStorage.setItem("tidal.autoRefresh", autoRefresh ? "on" : "off");
      schedule();
    } }), ` auto-refresh (${REFRESH_MS / 1000} s)`);
  const stamp = h("span", { class: "muted", id: "loaded-at" });
  main.replaceChildren(h("section", { class: "card" },
    h("h2", {}, "Workflows ", h("span", { class: "muted" }, `in ${ns}`)),
    form, queryError, helpers,
    h("div", { class: "effective" }, "Query sent: ", h("code", { id: "effective-query" }, effective || "(all runs)")),
    chips, h("div", { class: "toolbar" }, refresh, stamp), table, pager));

  async function loadCounts() {
    // One scan for every chip: the count grouped by status.
    const total = await api(`/namespaces/${enc(ns)}/workflow-count`, { params: { query: withGroupBy(query) } });
    const by = new Map((total.groups || []).map((g) => [g.group_values[0], g.count]));
    const counts = STATUSES.map((st) => ({ count: by.get(st) || 0 }));
    chips.replaceChildren(
      h("a", { class: "chip" + (status ? "" : " active"), href: hrefFor(query, ""), "data-status": "All" },
        "All ", h("b", {}, total.count)),
      ...STATUSES.map((st, i) => h("a", {
        class: `chip st-${st}` + (status === st ? " active" : ""), href: hrefFor(query, status === st ? "" : st),
        "data-status": st,
      }, `${st} `, h("b", {}, counts[i].count))));
  }

  async function loadPage() {
    const data = await api(`/namespaces/${enc(ns)}/workflows`, {
      params: { query: effective, page_size: pageSize, next_page_token: tokens[page] },
    });
    tokens[page + 1] = data.next_page_token;
    const rows = data.executions.map((e) => h("tr", {},
      h("td", {}, statusChip(e.status)),
      h("td", {}, h("a", { href: wfHref(ns, e.workflow_id, e.run_id), class: "wf-link" }, e.workflow_id)),
      h("td", { class: "mono small" }, e.run_id),
      h("td", {}, e.workflow_type),
      h("td", {}, h("a", { href: tqHref(ns, e.task_queue) }, e.task_queue)),
      h("td", { class: "nowrap" }, fmtTime(e.start_time)),
      h("td", { class: "nowrap" }, fmtTime(e.close_time)),
      h("td", { class: "nowrap" }, duration(e.start_time, e.close_time))));
    table.replaceChildren(rows.length ? h("table", { class: "runs" },
      h("thead", {}, h("tr", {}, ["Status", "Workflow id", "Run id", "Type", "Task queue", "Start", "Close", "Duration"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows)) : h("p", { class: "muted", id: "no-runs" }, "No runs match."));
    pager.replaceChildren(
      h("button", { id: "prev-page", disabled: page === 0, onclick: () => { page -= 1; reload(); } }, "← Newer"),
      h("span", { class: "muted", id: "page-number" }, ` page ${page + 1} `),
      h("button", { id: "next-page", disabled: !data.next_page_token, onclick: () => { page += 1; reload(); } }, "Older →"),
      h("label", { class: "muted" }, " rows per page ", h("select", { id: "page-size", onchange: (e) => app.go(hrefFor(query, status, Number(e.target.value))) },
        [...new Set([...PAGE_SIZES, pageSize])].sort((a, b) => a - b).map((n) => h("option", { value: n, selected: n === pageSize }, String(n))))));
  }

  let alive = true;
  async function reload(first = false) {
    try {
      await Promise.all([loadPage(), loadCounts()]);
      stamp.textContent = `updated ${new Date().toLocaleTimeString()}`;
      // For measuring page loads (bench/ui_pageload.py): the list and its counts are shown.
      if (!performance.getEntriesByName("tidal:ready").length) performance.mark("tidal:ready");
      queryError.replaceChildren();
    } catch (err) {
      if (err.status === 400) {
        // The query is wrong: say so where it is typed; the old rows and counts would mislead.
        queryError.replaceChildren(errorBox(err));
        table.replaceChildren(h("p", { class: "muted", id: "no-runs" }, "Fix the query to see runs."));
        chips.replaceChildren();
        pager.replaceChildren();
      } else {
        table.replaceChildren(errorBox(err));
      }
      // The first load lets the router show the sign-in form; a refresh just shows the error.
      if (first && err.status === 401) throw err;
    }
    schedule();
  }
  function schedule() {
    clearTimeout(timer);
    if (alive && autoRefresh) timer = setTimeout(reload, REFRESH_MS);
  }
  await reload(true);
  return () => { alive = false; clearTimeout(timer); };
}
