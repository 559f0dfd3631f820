// Task queues: the namespace's task queues (GET .../task-queues, by name, 50 a page) or one by
// name (GET .../task-queues/{name}), with workflow and activity pollers and backlog.
import { api, enc } from "./api.js";
import { h, errorBox, tqHref, markReady } from "./util.js";

const REFRESH_MS = 3000;
const PAGE_SIZE = 50;

function table(rows) {
  return h("table", { class: "runs", id: "task-queue-table" },
    h("thead", {}, h("tr", {}, ["Task queue", "Workflow pollers", "Workflow backlog", "Activity pollers", "Activity backlog"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-task-queue": r.task_queue },
      h("td", {}, h("a", { href: tqHref(r.namespace, r.task_queue) }, r.task_queue)),
      h("td", { class: r.workflow.pollers ? "" : "muted" }, String(r.workflow.pollers)), h("td", {}, String(r.workflow.backlog)),
      h("td", { class: r.activity.pollers ? "" : "muted" }, String(r.activity.pollers)), h("td", {}, String(r.activity.backlog))))));
}

export async function renderTaskQueues(main, app, ns, name) {
  const tokens = [null];
  let page = 0, timer = null, alive = true;
  const body = h("div", { id: "task-queues" });
  const pager = h("div", { class: "pager" });
  main.replaceChildren(h("section", { class: "card" },
    h("h2", {}, "Task queues ", h("span", { class: "muted" }, `in ${ns}`)),
    h("form", { class: "query", onsubmit: (e) => { e.preventDefault(); app.go(tqHref(ns, e.target.elements.tq.value.trim())); } },
      h("input", { name: "tq", value: name, placeholder: "task queue name", required: true }), h("button", { type: "submit" }, "Describe")),
    name ? h("p", {}, h("a", { href: tqHref(ns, "") }, "← every task queue")) : h("p", { class: "muted" }, "The task queues of the namespace's runs:"),
    body, pager));
  async function load() {
    clearTimeout(timer);
    try {
      if (name) {
        body.replaceChildren(table([await api(`/namespaces/${enc(ns)}/task-queues/${enc(name)}`)]));
      } else {
        const data = await api(`/namespaces/${enc(ns)}/task-queues`, { params: { page_size: PAGE_SIZE, next_page_token: tokens[page] } });
        tokens[page + 1] = data.next_page_token;
        body.replaceChildren(data.task_queues.length ? table(data.task_queues) : h("p", { class: "muted", id: "no-task-queues" }, "No runs yet."));
        pager.replaceChildren(
          h("button", { disabled: page === 0, onclick: () => { page -= 1; load(); } }, "← Previous"),
          h("span", { class: "muted" }, ` page ${page + 1} `),
          h("button", { disabled: !data.next_page_token, id: "tq-next", onclick: () => { page += 1; load(); } }, "Next →"));
      }
      markReady();
    } catch (err) { body.replaceChildren(errorBox(err)); }
    if (alive) timer = setTimeout(load, REFRESH_MS);
  }
  await load();
  return () => { alive = false; clearTimeout(timer); };
}
