/** The audit log: who did what, when and from where, filtered by name, action and time. */
import { api, messageOf, query, type AuditRecord } from "./api.js";
import { fill, h, main } from "./dom.js";

const ACTIONS = ["", "submitted", "signed", "rejected", "revoked", "cleaned", "deleted", "generated", "renewed", "login", "login-locked", "logout", "user-added", "user-changed", "user-deleted", "autosign-edited"];

export function auditPage(params: URLSearchParams): void {
  const name = params.get("name") ?? "";
  const action = params.get("action") ?? "";
  const since = params.get("since") ?? "";
  const nameInput = h("input", { id: "audit-name", value: name, autocomplete: "off" });
  const actionSelect = h("select", { id: "audit-action" }, ...ACTIONS.map((a) => h("option", { value: a, selected: a === action }, a || "any")));
  const sinceSelect = h("select", { id: "audit-since" }, ...[["", "any time"], ["1h", "last hour"], ["1d", "last day"], ["7d", "last week"], ["30d", "last 30 days"]].map(([v, t]) => h("option", { value: v!, selected: v === since }, t!)));
  const out = h("div", {}, h("p", {}, "Loading…"));
  fill(main(), h("h1", {}, "Audit log"),
    h("form", { class: "inline", onsubmit: (e: Event) => {
      e.preventDefault();
      const q = new URLSearchParams();
      if (nameInput.value.trim()) q.set("name", nameInput.value.trim());
      if (actionSelect.value) q.set("action", actionSelect.value);
      if (sinceSelect.value) q.set("since", sinceSelect.value);
      location.hash = `#/audit?${q}`;
    } }, h("label", { for: "audit-name" }, "Certname", nameInput), h("label", { for: "audit-action" }, "Action", actionSelect), h("label", { for: "audit-since" }, "Since", sinceSelect), h("button", { type: "submit" }, "Filter")),
    out);
  api<{ items: AuditRecord[] }>("GET", `/audit${query({ name, action, since, limit: 500 })}`).then(({ items }) => {
    fill(out, items.length === 0 ? h("p", {}, "No records match.") :
      h("table", { id: "audit-table" }, h("caption", {}, `${items.length} most recent records, newest first`),
        h("thead", {}, h("tr", {}, ...["Time", "Action", "Outcome", "Names", "Who", "From", "Detail"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, ...items.reverse().map((r) => h("tr", {}, h("td", {}, r.time), h("td", {}, r.action), h("td", {}, r.outcome), h("td", {}, [...r.names, ...r.serials.map((s) => `serial ${s}`)].join(", ")), h("td", {}, r.who), h("td", {}, r.from), h("td", {}, r.reason ?? r.detail ?? ""))))));
  }).catch((e: unknown) => fill(out, h("p", { class: "error", role: "alert" }, messageOf(e))));
}
