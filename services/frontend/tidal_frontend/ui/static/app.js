// Entry point: sign-in, the namespace switcher and a hash router over the pages.
import { api, apiKey, ApiError, enc } from "./api.js";
import { h, errorBox } from "./util.js";
import { renderList } from "./list.js";
import { renderWorkflow } from "./workflow.js";
import { renderTaskQueues } from "./taskqueues.js";
import { renderNamespacesAdmin, renderApiKeysAdmin } from "./admin.js";
import { renderSchedules, renderSchedule, renderNewSchedule } from "./schedules.js";

const RANK = { reader: 1, writer: 2, admin: 3 };
const app = {
  who: null,
  namespaces: [],
  identity: Promise.resolve(),
  ns: localStorage.getItem("tidal.namespace") || "default",
  canWrite(ns) {
    const w = this.who;
    return !!w && RANK[w.role] >= RANK.writer && (w.namespace === "*" || w.namespace === ns);
  },
  // Admin of some namespace: sees the admin pages (the API scopes what it may change).
  isAdmin() { return !!this.who && this.who.role === "admin"; },
  refreshNamespaces() { renderNamespaces(); },
  go(hash) { location.hash = hash; },
};
let cleanup = null;

function parseRoute() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(qs || "") };
}

function signIn(main, message) {
  main.replaceChildren(h("section", { class: "card signin" },
    h("h2", {}, "Sign in"),
    h("p", {}, "This server requires an API key (", h("code", {}, "tidal-server api-key create"),
      " or ", h("code", {}, "POST /api/v1/api-keys"), "). It stays in this browser and is sent as ",
      h("code", {}, "Authorization: Bearer …"), "."),
    message ? errorBox(message) : null,
    h("form", { id: "signin", onsubmit: (e) => {
      e.preventDefault();
      apiKey.set(e.target.elements.key.value.trim());
      start();
    } },
      h("input", { name: "key", type: "password", placeholder: "tidal_…", autocomplete: "off", size: 60, required: true }),
      h("button", { type: "submit" }, "Sign in"))));
}

function renderWho() {
  const el = document.getElementById("who");
  const w = app.who;
  document.getElementById("nav-admin").hidden = !app.isAdmin();
  if (!w) { el.replaceChildren(); return; }
  if (!w.auth_enabled) { el.replaceChildren(h("span", { class: "muted" }, "auth off")); return; }
  el.replaceChildren(
    h("span", { id: "role" }, `${w.role} on ${w.namespace === "*" ? "every namespace" : w.namespace}`),
    " ",
    h("button", { class: "link", id: "signout", onclick: () => { apiKey.clear(); app.who = null; start(); } }, "Sign out"));
}

function renderNamespaces() {
  const sel = document.getElementById("namespace");
  const names = app.namespaces.map((n) => n.name);
  if (!names.includes(app.ns) && names.length) app.ns = names.includes("default") ? "default" : names[0];
  sel.replaceChildren(...names.map((n) => h("option", { value: n, selected: n === app.ns }, n)));
  sel.onchange = () => { app.go(`#/namespaces/${enc(sel.value)}/workflows`); };
}

let routeSeq = 0;

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const seq = ++routeSeq;
  // Each navigation renders into its own view: a page still loading for an earlier route (a
  // slow API call, a sign-out meanwhile) then writes into a detached element, not over this one.
  const main = h("div", { class: "view" }, h("p", { class: "muted" }, "Loading…"));
  document.getElementById("main").replaceChildren(main);
  const { parts, params } = parseRoute();
  if (parts[0] === "namespaces" && parts[1]) {
    app.ns = parts[1];
    localStorage.setItem("tidal.namespace", app.ns);
  }
  const sel = document.getElementById("namespace");
  if (sel.value !== app.ns) renderNamespaces();
  document.getElementById("nav-workflows").href = `#/namespaces/${enc(app.ns)}/workflows`;
  document.getElementById("nav-task-queues").href = `#/namespaces/${enc(app.ns)}/task-queues`;
  document.getElementById("nav-schedules").href = `#/namespaces/${enc(app.ns)}/schedules`;
  let done = null;
  try {
    if (parts[0] === "namespaces" && parts[2] === "workflows" && parts.length === 4) {
      // The workflow id is one percent-encoded segment (ids may hold "/").
      done = await renderWorkflow(main, app, app.ns, parts[3], params.get("run_id"));
    } else if (parts[0] === "namespaces" && parts[2] === "schedules" && parts.length === 4) {
      done = await renderSchedule(main, app, app.ns, parts[3]);
    } else if (parts[0] === "namespaces" && parts[2] === "new-schedule") {
      done = await renderNewSchedule(main, app, app.ns);
    } else if (parts[0] === "namespaces" && parts[2] === "schedules") {
      done = await renderSchedules(main, app, app.ns);
    } else if (parts[0] === "admin" && parts[1] === "api-keys") {
      done = await renderApiKeysAdmin(main, app, params);
    } else if (parts[0] === "admin") {
      done = await renderNamespacesAdmin(main, app);
    } else if (parts[0] === "namespaces" && parts[2] === "task-queues") {
      done = await renderTaskQueues(main, app, app.ns, parts[3] || params.get("name") || "");
    } else {
      done = await renderList(main, app, app.ns, params);
    }
  } catch (err) {
    if (seq !== routeSeq) return;
    if (err instanceof ApiError && err.status === 401) { signIn(main, err); return; }
    main.replaceChildren(errorBox(err));
  }
  // A newer navigation started meanwhile: stop this page's refresh timers.
  if (seq !== routeSeq) { if (done) done(); } else cleanup = done;
}

async function start() {
  const main = document.getElementById("main");
  // Who the key is and its namespaces load while the page's own data does (the list does not
  // need them; the workflow page waits for `app.identity` before deciding on action buttons).
  const identity = Promise.all([api("/whoami"), api("/namespaces")]).then(([who, namespaces]) => {
    app.who = who;
    app.namespaces = namespaces.namespaces;
    renderWho();
    renderNamespaces();
  });
  app.identity = identity.catch(() => {});
  const page = route();
  try {
    await identity;
  } catch (err) {
    app.who = null;
    renderWho();
    if (err instanceof ApiError && err.status === 401) { signIn(main, apiKey.get() ? err : null); return; }
    main.replaceChildren(errorBox(err));
    return;
  }
  await page;
}

window.addEventListener("hashchange", route);
start();
