/**
 * Pending requests: name, fingerprint, age, alt names and requested extensions by short
 * name; sign or reject one or many. A request that would grant alt names or authorization
 * extensions is flagged and signed only after a confirmation naming what it grants. The
 * list is polled, so new requests appear without reloading; selection and focus survive.
 */
import { api, query, type Page, type Pending } from "./api.js";
import { act } from "./actions.js";
import { ago, confirmDialog, fill, h, main, say } from "./dom.js";

const POLL_MS = 3000;

/** What the page reads (main.ts prefetches it with the session check). */
export const pendingPath = (search: string): string => `/requests${query({ search, limit: 200 })}`;

export function pendingPage(canAct: boolean, search: string): () => void {
  const selected = new Set<string>();
  let items: Pending[] = [];
  let total = 0;
  let signature = "";
  const root = main();
  const list = h("div", { id: "pending-list" });
  const searchInput = h("input", { id: "pending-search", type: "search", value: search, autocomplete: "off" });
  const form = h("form", { class: "inline", role: "search", onsubmit: (e: Event) => {
    e.preventDefault();
    location.hash = `#/pending${searchInput.value ? `?search=${encodeURIComponent(searchInput.value)}` : ""}`;
  } }, h("label", { for: "pending-search" }, "Search by name", searchInput), h("button", { type: "submit" }, "Search"));
  const bulk = canAct
    ? h("div", { class: "toolbar", role: "group", "aria-label": "Selected requests" },
        h("button", { type: "button", id: "sign-selected", class: "primary", onclick: () => sign([...selected]) }, "Sign selected"),
        h("button", { type: "button", id: "reject-selected", class: "danger", onclick: () => reject([...selected]) }, "Reject selected"))
    : null;
  fill(root, h("h1", {}, "Pending requests"), form, bulk, list);

  async function sign(names: string[]): Promise<void> {
    if (names.length === 0) return say("Select at least one request first.");
    const flagged = items.filter((i) => names.includes(i.name) && i.grants.length > 0);
    let confirm: string[] = [];
    if (flagged.length > 0) {
      const ok = await confirmDialog(
        "Sign requests that grant more than a node certificate?",
        [h("p", {}, "Signing these grants extra names or access. Check each is intended:"), h("ul", {}, ...flagged.map((f) => h("li", {}, h("strong", {}, f.name), " grants ", f.grants.join(", "))))],
        `Sign and grant (${flagged.length})`,
      );
      if (!ok) return say("Nothing signed.");
      confirm = flagged.map((f) => f.name);
    }
    const r = await act("sign", { names, confirm });
    if (r) for (const i of r.items) if (i.ok) selected.delete(i.name);
    await refresh(true);
  }

  async function reject(names: string[]): Promise<void> {
    if (names.length === 0) return say("Select at least one request first.");
    const ok = await confirmDialog(`Reject ${names.length === 1 ? names[0] : `${names.length} requests`}?`, [h("p", {}, "The requests are deleted; the nodes must submit again: ", names.join(", "))], "Reject");
    if (!ok) return;
    const r = await act("reject", { names });
    if (r) for (const i of r.items) if (i.ok) selected.delete(i.name);
    await refresh(true);
  }

  function render(): void {
    const focusedId = document.activeElement?.id;
    if (items.length === 0) {
      fill(list, h("p", { id: "no-pending" }, search ? `No pending request matches "${search}".` : "No pending requests."));
      return;
    }
    const all = h("input", { type: "checkbox", id: "select-all", "aria-label": "Select all requests shown", checked: items.every((i) => selected.has(i.name)), onchange: (e: Event) => {
      const on = (e.target as HTMLInputElement).checked;
      for (const i of items) {
        if (on) selected.add(i.name);
        else selected.delete(i.name);
      }
      render();
    } });
    const rows = items.map((i, n) => {
      const box = h("input", { type: "checkbox", id: `select-${n}`, "aria-label": `Select ${i.name}`, checked: selected.has(i.name), onchange: (e: Event) => {
        if ((e.target as HTMLInputElement).checked) selected.add(i.name);
        else selected.delete(i.name);
      } });
      return h("tr", { "data-name": i.name },
        canAct ? h("td", {}, box) : null,
        h("th", { scope: "row" }, i.name, i.grants.length > 0 ? h("span", { class: "flag" }, " ⚑ grants ", i.grants.join(", ")) : null),
        h("td", { class: "mono" }, i.fingerprint),
        h("td", {}, ago(i.submittedAt)),
        h("td", {}, i.altNames.join(", ")),
        h("td", {}, h("ul", {}, ...i.extensions.map((x) => h("li", {}, h("code", {}, x.name), ": ", x.value)))),
        canAct ? h("td", {},
          h("button", { type: "button", id: `sign-${n}`, "aria-label": `Sign ${i.name}`, onclick: () => sign([i.name]) }, "Sign"), " ",
          h("button", { type: "button", id: `reject-${n}`, class: "danger", "aria-label": `Reject ${i.name}`, onclick: () => reject([i.name]) }, "Reject")) : null);
    });
    fill(list,
      h("p", {}, `${total} pending${total > items.length ? `, showing ${items.length}` : ""}.`),
      h("table", {}, h("caption", {}, "Pending certificate requests"),
        h("thead", {}, h("tr", {}, canAct ? h("th", { scope: "col" }, all) : null, ...["Name", "Fingerprint (SHA-256)", "Age", "Alt names", "Extensions"].map((t) => h("th", { scope: "col" }, t)), canAct ? h("th", { scope: "col" }, "Actions") : null)),
        h("tbody", {}, ...rows)));
    if (focusedId) document.getElementById(focusedId)?.focus();
  }

  async function refresh(force = false): Promise<void> {
    try {
      const page = await api<Page<Pending>>("GET", pendingPath(search));
      const next = page.items.map((i) => `${i.name}/${i.fingerprint}`).join(",");
      total = page.total;
      if (force || next !== signature) {
        const added = page.items.filter((i) => !items.some((o) => o.name === i.name)).length;
        items = page.items;
        signature = next;
        for (const name of selected) if (!items.some((i) => i.name === name)) selected.delete(name);
        render();
        if (!force && added > 0) say(`${added} new pending request${added > 1 ? "s" : ""}.`);
      }
    } catch {
      /* a failed poll is retried at the next tick */
    }
  }

  void refresh(true);
  const timer = window.setInterval(() => void refresh(), POLL_MS);
  return () => window.clearInterval(timer);
}
