// Administration (admins only; the API refuses everyone else with 403 anyway): namespaces
// (create, update retention and description, deprecate) and API keys (list by namespace and
// role, create with the secret shown once, revoke).
import { api, enc } from "./api.js";
import { h, fmtTime, errorBox, confirmButton } from "./util.js";

const ROLES = ["reader", "writer", "admin"];

function notAllowed(main) {
  main.replaceChildren(h("section", { class: "card", id: "admin-denied" },
    h("h2", {}, "Administration"), h("p", { class: "muted" }, "Only admin keys manage namespaces and API keys.")));
}

function adminNav(active) {
  return h("nav", { class: "admin-nav" },
    h("a", { href: "#/admin/namespaces", class: active === "namespaces" ? "active" : null, id: "admin-namespaces-link" }, "Namespaces"),
    h("a", { href: "#/admin/api-keys", class: active === "api-keys" ? "active" : null, id: "admin-keys-link" }, "API keys"));
}

export async function renderNamespacesAdmin(main, app) {
  await app.identity;
  if (!app.who) return null; // sign-in (or the error) is shown by the caller
  if (!app.isAdmin()) { notAllowed(main); return null; }
  const all = app.who.namespace === "*";
  const out = h("div", { id: "admin-result" });
  const body = h("div", { id: "namespaces-table" });
  const done = (what) => out.replaceChildren(h("span", { class: "ok" }, what));

  async function load() {
    const { namespaces } = await api("/namespaces");
    app.namespaces = namespaces;
    app.refreshNamespaces();
    body.replaceChildren(h("table", { class: "runs" },
      h("thead", {}, h("tr", {}, ["Name", "State", "Retention (days)", "Description", "Created", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, namespaces.map((n) => row(n)))));
  }

  function row(n) {
    const canEdit = all || app.who.namespace === n.name;
    const form = h("form", { class: "inline", "data-namespace": n.name, onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target.elements;
      try {
        await api(`/namespaces/${enc(n.name)}`, { method: "PATCH", body: { description: f.description.value, retention_days: Number(f.retention.value) } });
        done(`Namespace ${n.name} updated`);
        await load();
      } catch (err) { out.replaceChildren(errorBox(err)); }
    } },
      // No min/max here: the API's rule applies and its 400 is shown (one source of truth).
      h("input", { name: "retention", type: "number", value: n.retention_days, required: true, disabled: !canEdit, class: "narrow" }),
      h("input", { name: "description", value: n.description, disabled: !canEdit }),
      canEdit ? h("button", { type: "submit" }, "Save") : null);
    return h("tr", { "data-namespace": n.name },
      h("td", {}, h("a", { href: `#/namespaces/${enc(n.name)}/workflows` }, n.name)),
      h("td", { class: "ns-state" }, n.state),
      h("td", { colspan: 2 }, form),
      h("td", { class: "nowrap" }, fmtTime(n.created_at)),
      h("td", {}, canEdit && n.state !== "deprecated" ? confirmButton("Deprecate", "Confirm deprecate", async () => {
        try {
          await api(`/namespaces/${enc(n.name)}`, { method: "DELETE" });
          done(`Namespace ${n.name} deprecated: new starts are refused`);
          await load();
        } catch (err) { out.replaceChildren(errorBox(err)); }
      }, { class: "deprecate" }) : null));
  }

  const create = all ? h("form", { id: "create-namespace", class: "helpers", onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    try {
      const ns = await api("/namespaces", { method: "POST", body: {
        name: f.name.value.trim(), description: f.description.value, retention_days: Number(f.retention.value) } });
      done(`Namespace ${ns.name} created`);
      e.target.reset();
      await load();
    } catch (err) { out.replaceChildren(errorBox(err)); }
  } },
    h("b", {}, "New namespace "),
    h("input", { name: "name", placeholder: "name", required: true }),
    h("label", {}, "retention ", h("input", { name: "retention", type: "number", min: 1, max: 36500, value: 30, class: "narrow" }), " days"),
    h("input", { name: "description", placeholder: "description", class: "wide" }),
    h("button", { type: "submit" }, "Create")) : null;

  main.replaceChildren(h("section", { class: "card" },
    h("h2", {}, "Administration"), adminNav("namespaces"), create, out, body));
  try { await load(); } catch (err) { body.replaceChildren(errorBox(err)); }
  return null;
}

export async function renderApiKeysAdmin(main, app, params) {
  await app.identity;
  if (!app.who) return null; // sign-in (or the error) is shown by the caller
  if (!app.isAdmin()) { notAllowed(main); return null; }
  const all = app.who.namespace === "*";
  const nsFilter = params.get("namespace") || "";
  const roleFilter = params.get("role") || "";
  const out = h("div", { id: "admin-result" });
  const body = h("div", { id: "keys-table" });
  // Namespaces this admin may issue keys for ("*" only for an admin of every namespace).
  const names = all ? ["*", ...app.namespaces.map((n) => n.name)] : [app.who.namespace];
  const hrefFor = (ns, role) => {
    const p = new URLSearchParams();
    if (ns) p.set("namespace", ns);
    if (role) p.set("role", role);
    return "#/admin/api-keys" + (p.toString() ? "?" + p : "");
  };

  async function load() {
    const { api_keys: keys } = await api("/api-keys", { params: { namespace: nsFilter, role: roleFilter } });
    body.replaceChildren(keys.length ? h("table", { class: "runs" },
      h("thead", {}, h("tr", {}, ["Key id", "Namespace", "Role", "Description", "Created", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, keys.map((k) => h("tr", { "data-key-id": k.key_id },
        h("td", { class: "mono" }, k.key_id),
        h("td", {}, k.namespace === "*" ? "every namespace" : k.namespace),
        h("td", {}, k.role),
        h("td", {}, k.description),
        h("td", { class: "nowrap" }, fmtTime(k.created_at)),
        h("td", {}, k.key_id === app.who.key_id ? h("span", { class: "muted" }, "this key") : confirmButton("Revoke", "Confirm revoke", async () => {
          try {
            await api(`/api-keys/${enc(k.key_id)}`, { method: "DELETE" });
            out.replaceChildren(h("span", { class: "ok" }, `Key ${k.key_id} revoked`));
            await load();
          } catch (err) { out.replaceChildren(errorBox(err)); }
        }, { class: "revoke" })))))) : h("p", { class: "muted", id: "no-keys" }, "No keys match."));
  }

  const filters = h("form", { class: "helpers", id: "key-filters", onsubmit: (e) => {
    e.preventDefault();
    app.go(hrefFor(e.target.elements.namespace.value, e.target.elements.role.value));
  } },
    h("label", {}, "namespace ", h("select", { name: "namespace" },
      h("option", { value: "" }, "any"), names.map((n) => h("option", { value: n, selected: n === nsFilter }, n === "*" ? "* (every namespace)" : n)))),
    h("label", {}, "role ", h("select", { name: "role" },
      h("option", { value: "" }, "any"), ROLES.map((r) => h("option", { value: r, selected: r === roleFilter }, r)))),
    h("button", { type: "submit" }, "Filter"));

  const secret = h("div", { id: "new-key" });
  const create = h("form", { id: "create-key", class: "helpers", onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    try {
      const k = await api("/api-keys", { method: "POST", body: { namespace: f.namespace.value, role: f.role.value, description: f.description.value } });
      // The API returns the secret in this answer only: show it once, never store it.
      secret.replaceChildren(h("div", { class: "secret" },
        h("p", {}, h("b", {}, `New ${k.role} key for ${k.namespace === "*" ? "every namespace" : k.namespace}. `),
          "Copy it now: it is shown only once."),
        h("input", { id: "new-key-secret", readonly: true, value: k.key, size: 70, onclick: (ev) => ev.target.select() })));
      out.replaceChildren();
      e.target.reset();
      await load();
    } catch (err) { out.replaceChildren(errorBox(err)); }
  } },
    h("b", {}, "New key "),
    h("select", { name: "namespace" }, names.map((n) => h("option", { value: n, selected: n === (nsFilter || app.ns) }, n))),
    h("select", { name: "role" }, ROLES.map((r) => h("option", { value: r }, r))),
    h("input", { name: "description", placeholder: "description (who or what uses it)", class: "wide" }),
    h("button", { type: "submit" }, "Create key"));

  main.replaceChildren(h("section", { class: "card" },
    h("h2", {}, "Administration"), adminNav("api-keys"), create, secret, filters, out, body));
  try { await load(); } catch (err) { body.replaceChildren(errorBox(err)); }
  return null;
}
