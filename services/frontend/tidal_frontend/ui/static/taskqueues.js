// Task queues: backlog and pollers from the describe endpoint; the names come from the URL, the
// form, or the task queues of the namespace's most recent runs (there is no list endpoint).
import { api, enc } from "./api.js";
import { h, errorBox, tqHref } from "./util.js";

const REFRESH_MS = 3000;

export async function renderTaskQueues(main, app, ns, name) {
  const recent = await api(`/namespaces/${enc(ns)}/workflows`, { params: { page_size: 200 } });
  const names = [...new Set(recent.executions.map((e) => e.task_queue))].sort();
  const shown = name ? [name] : names;
  const body = h("div", { id: "task-queues" });
  let timer = null, alive = true;
  main.replaceChildren(h("section", { class: "card" },
    h("h2", {}, "Task queues ", h("span", { class: "muted" }, `in ${ns}`)),
    h("form", { class: "query", onsubmit: (e) => { e.preventDefault(); app.go(tqHref(ns, e.target.elements.tq.value.trim())); } },
      h("input", { name: "tq", value: name, placeholder: "task queue name", required: true }), h("button", { type: "submit" }, "Describe")),
    name ? null : h("p", { class: "muted" }, "The task queues of the latest 200 runs:"),
    body));
  async function load() {
    try {
      const rows = await Promise.all(shown.map((q) => api(`/namespaces/${enc(ns)}/task-queues/${enc(q)}`)));
      body.replaceChildren(rows.length ? h("table", { class: "runs" },
        h("thead", {}, h("tr", {}, ["Task queue", "Workflow pollers", "Workflow backlog", "Activity pollers", "Activity backlog"].map((c) => h("th", {}, c)))),
        h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, h("a", { href: tqHref(ns, r.task_queue) }, r.task_queue)),
          h("td", {}, String(r.workflow.pollers)), h("td", {}, String(r.workflow.backlog)),
          h("td", {}, String(r.activity.pollers)), h("td", {}, String(r.activity.backlog)))))) : h("p", { class: "muted" }, "No runs yet."));
    } catch (err) { body.replaceChildren(errorBox(err)); }
    if (alive) timer = setTimeout(load, REFRESH_MS);
  }
  await load();
  return () => { alive = false; clearTimeout(timer); };
}
