/** One certificate: every field, its extensions by name, and its history from the audit log. */
import { api, messageOf, type AuditRecord, type Extension, type Listed } from "./api.js";
import { cleanWithConfirm, revokeWithConfirm } from "./actions.js";
import { fill, h, main } from "./dom.js";

interface Certificate extends Listed {
  subject: string;
  issuer: string;
  fingerprints: { SHA256: string; SHA1: string };
  extensions: Extension[];
  history: AuditRecord[];
  revocation?: { revokedAt: string | null; reason: string; by: string };
  pem: string;
}

export const certificatePath = (name: string): string => `/certificates/${encodeURIComponent(name)}`;

export function certificatePage(name: string, canAct: boolean): void {
  fill(main(), h("h1", {}, "Certificate ", name), h("p", {}, "Loading…"));
  api<Certificate>("GET", certificatePath(name)).then((c) => {
    const field = (k: string, v: string) => [h("dt", {}, k), h("dd", {}, v)];
    fill(main(),
      h("h1", {}, "Certificate ", c.name),
      h("dl", { id: "cert-fields" },
        field("State", c.state),
        c.revocation ? field("Revoked", `${c.revocation.revokedAt ?? "unknown time"} (${c.revocation.reason}) by ${c.revocation.by}`) : null,
        field("Subject", c.subject), field("Issuer", c.issuer), field("Serial", c.serial ?? ""),
        field("Not before", c.notBefore ?? ""), field("Not after", c.notAfter ?? ""),
        field("SHA-256 fingerprint", c.fingerprints.SHA256), field("SHA-1 fingerprint", c.fingerprints.SHA1),
        field("Alt names (SANs)", c.altNames.join(", ") || "none")),
      canAct ? h("p", { class: "toolbar" },
        c.state === "signed" ? h("button", { type: "button", class: "danger", onclick: async () => (await revokeWithConfirm([c.name])) && certificatePage(name, canAct) }, "Revoke") : null,
        h("button", { type: "button", class: "danger", onclick: async () => (await cleanWithConfirm([c.name])) && (location.hash = "#/certificates") }, "Clean")) : null,
      h("h2", {}, "Extensions"),
      h("table", {}, h("thead", {}, h("tr", {}, ...["Name", "OID", "Critical", "Value"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, ...c.extensions.map((e) => h("tr", {}, h("th", { scope: "row" }, e.name), h("td", { class: "mono" }, e.oid), h("td", {}, e.critical ? "yes" : "no"), h("td", { class: "mono" }, e.value))))),
      h("h2", {}, "History"),
      c.history.length === 0 ? h("p", {}, "The audit log has nothing on this name.") :
        h("table", { id: "cert-history" }, h("thead", {}, h("tr", {}, ...["Time", "Action", "Outcome", "Who", "From", "Detail"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, ...c.history.map((r) => h("tr", {}, h("td", {}, r.time), h("td", {}, r.action), h("td", {}, r.outcome), h("td", {}, r.who), h("td", {}, r.from), h("td", {}, r.reason ?? r.detail ?? ""))))),
      h("h2", {}, "PEM"), h("pre", { class: "mono", tabindex: 0, "aria-label": "Certificate in PEM" }, c.pem));
  }).catch((e: unknown) => fill(main(), h("h1", {}, "Certificate ", name), h("p", { class: "error", role: "alert" }, messageOf(e))));
}
