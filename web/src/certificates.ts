/** Certificates: search, state and expiry filters, server-side paging and sorting; revoke and clean with confirmation. */
import { api, messageOf, query, type Listed, type Page } from "./api.js";
import { cleanWithConfirm, revokeWithConfirm } from "./actions.js";
import { day, fill, h, main } from "./dom.js";

const PAGE = 50;
const COLUMNS: [string, string | undefined][] = [["Name", "name"], ["State", "state"], ["Serial", "serial"], ["Expires", "notAfter"], ["Alt names", undefined]];

/** What the page reads for these parameters (main.ts prefetches it with the session check). */
export function certificatesPath(params: URLSearchParams): string {
  const state = params.get("state") ?? "";
  const search = params.get("search") ?? "";
  const offset = Number(params.get("offset") ?? "0") || 0;
  if (state === "requested") return `/requests${query({ search, offset, limit: PAGE })}`;
  const sort = params.get("sort") ?? "name";
  const order = params.get("order") ?? "asc";
  return `/certificates${query({ state, search, expires_within: params.get("expires_within") ?? "", sort, order, offset, limit: PAGE })}`;
}

export function certificatesPage(params: URLSearchParams, canAct: boolean): void {
  const state = params.get("state") ?? "";
  const search = params.get("search") ?? "";
  const expires = params.get("expires_within") ?? "";
  const sort = params.get("sort") ?? "name";
  const order = params.get("order") ?? "asc";
  const offset = Number(params.get("offset") ?? "0") || 0;
  const go = (change: Record<string, string | number>) => {
    const next = new URLSearchParams({ state, search, expires_within: expires, sort, order, offset: String(offset), ...Object.fromEntries(Object.entries(change).map(([k, v]) => [k, String(v)])) });
    for (const [k, v] of [...next]) if (v === "" || (k === "offset" && v === "0")) next.delete(k);
    location.hash = `#/certificates?${next}`;
  };
  const searchInput = h("input", { id: "cert-search", type: "search", value: search, autocomplete: "off" });
  const stateSelect = h("select", { id: "cert-state" }, ...[["", "signed and revoked"], ["signed", "signed"], ["revoked", "revoked"], ["requested", "requested"]].map(([v, t]) => h("option", { value: v!, selected: v === state }, t!)));
  const expirySelect = h("select", { id: "cert-expiry" }, ...[["", "any time"], ["30d", "within 30 days"], ["90d", "within 90 days"], ["365d", "within a year"]].map(([v, t]) => h("option", { value: v!, selected: v === expires }, t!)));
  const out = h("div", { id: "cert-list" }, h("p", {}, "Loading…"));
  fill(main(), h("h1", {}, "Certificates"),
    h("form", { class: "inline", role: "search", onsubmit: (e: Event) => {
      e.preventDefault();
      go({ search: searchInput.value.trim(), state: stateSelect.value, expires_within: expirySelect.value, offset: 0 });
    } },
      h("label", { for: "cert-search" }, "Name contains", searchInput),
      h("label", { for: "cert-state" }, "State", stateSelect),
      h("label", { for: "cert-expiry" }, "Expires", expirySelect),
      h("button", { type: "submit" }, "Filter")),
    out);

  const requested = state === "requested";
  const path = certificatesPath(params);
  api<Page<Listed>>("GET", path).then((page) => {
    const header = COLUMNS.map(([label, key]) => {
      if (!key || requested) return h("th", { scope: "col" }, label);
      const active = sort === key;
      const nextOrder = active && order === "asc" ? "desc" : "asc";
      return h("th", { scope: "col", "aria-sort": active ? (order === "asc" ? "ascending" : "descending") : undefined },
        h("button", { type: "button", onclick: () => go({ sort: key, order: nextOrder, offset: 0 }) }, label, active ? (order === "asc" ? " ▲" : " ▼") : ""));
    });
    const rows = page.items.map((c) => h("tr", {},
      h("th", { scope: "row" }, c.state === "requested" ? c.name : h("a", { href: `#/certificate/${encodeURIComponent(c.name)}` }, c.name)),
      h("td", {}, c.state), h("td", { class: "mono" }, c.serial ?? ""), h("td", {}, day(c.notAfter)), h("td", {}, c.altNames.join(", ")),
      canAct && c.state !== "requested" ? h("td", {},
        c.state === "signed" ? h("button", { type: "button", class: "danger", "aria-label": `Revoke ${c.name}`, onclick: async () => (await revokeWithConfirm([c.name])) && go({}) }, "Revoke") : null, " ",
        h("button", { type: "button", class: "danger", "aria-label": `Clean ${c.name}`, onclick: async () => (await cleanWithConfirm([c.name])) && go({ offset }) }, "Clean")) : canAct ? h("td", {}) : null));
    const last = Math.min(page.offset + page.items.length, page.total);
    fill(out,
      h("p", { id: "cert-count" }, page.total === 0 ? "Nothing matches." : `${page.offset + 1}–${last} of ${page.total}`),
      h("table", {}, h("caption", {}, "Certificates"), h("thead", {}, h("tr", {}, ...header, canAct ? h("th", { scope: "col" }, "Actions") : null)), h("tbody", {}, ...rows)),
      h("p", { class: "toolbar" },
        h("button", { type: "button", disabled: offset === 0, onclick: () => go({ offset: Math.max(0, offset - PAGE) }) }, "Previous page"),
        h("button", { type: "button", disabled: last >= page.total, onclick: () => go({ offset: offset + PAGE }) }, "Next page")));
  }).catch((e: unknown) => fill(out, h("p", { class: "error", role: "alert" }, messageOf(e))));
}
