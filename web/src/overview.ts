/** The CA at a glance: subject, fingerprint, expiry of the CA certificate and CRL (warned within 90 days), counts, autosign, re-enrollment. */
import { api, isApiError, messageOf } from "./api.js";
import { day, fill, h, main } from "./dom.js";

interface Summary {
  subject: string;
  fingerprint: string;
  notAfter: string;
  crl: { number: string; nextUpdate: string; entries: number };
  counts: { requested: number; signed: number; revoked: number };
}

interface Regeneration {
  active: boolean;
  total: number;
  reenrolled: number;
  remaining: number;
}

const WARN_DAYS = 90;

/** What the page reads (main.ts prefetches it with the session check). */
export const OVERVIEW_PATHS = ["/ca", "/autosign", "/regeneration"];

export async function overviewPage(): Promise<void> {
  fill(main(), h("h1", {}, "CA overview"), h("p", {}, "Loading…"));
  try {
    const [s, autosign, regen] = await Promise.all([
      api<Summary>("GET", "/ca"),
      api<{ mode: string; path?: string; entries: unknown[] }>("GET", "/autosign").catch(() => undefined),
      // Re-enrollment progress exists on servers with the lifecycle API; older ones answer 404.
      api<Regeneration>("GET", "/regeneration").catch((e: unknown) => (isApiError(e) && e.status === 404 ? undefined : Promise.reject(e))),
    ]);
    const days = (iso: string) => Math.floor((Date.parse(iso) - Date.now()) / 86_400_000);
    const warnings = [
      days(s.notAfter) <= WARN_DAYS ? `The CA certificate expires in ${days(s.notAfter)} days (${day(s.notAfter)}): plan its renewal.` : "",
      days(s.crl.nextUpdate) <= WARN_DAYS ? `The CRL's next update is due in ${days(s.crl.nextUpdate)} days (${day(s.crl.nextUpdate)}).` : "",
    ].filter(Boolean);
    const field = (k: string, v: string) => [h("dt", {}, k), h("dd", {}, v)];
    fill(main(), h("h1", {}, "CA overview"),
      ...warnings.map((w) => h("p", { class: "warn", role: "alert" }, w)),
      h("dl", { id: "ca-fields" },
        field("CA subject", s.subject), field("CA fingerprint (SHA-256)", s.fingerprint),
        field("CA certificate expires", `${day(s.notAfter)} (in ${days(s.notAfter)} days)`),
        field("CRL next update", `${day(s.crl.nextUpdate)} (in ${days(s.crl.nextUpdate)} days); number ${s.crl.number}, ${s.crl.entries} entries`),
        field("Pending requests", String(s.counts.requested)), field("Signed", String(s.counts.signed)), field("Revoked", String(s.counts.revoked)),
        field("Autosign", autosign ? `${autosign.mode}${autosign.path ? ` (${autosign.path}, ${autosign.entries.length} entries)` : ""}` : "unknown")),
      regen && (regen.active || regen.total > 0)
        ? h("section", { id: "regeneration", "aria-labelledby": "regen-title" }, h("h2", { id: "regen-title" }, "Re-enrollment after regeneration"),
            h("p", {}, `${regen.reenrolled} of ${regen.total} nodes re-enrolled, ${regen.remaining} remaining${regen.active ? "" : " (finished)"}.`),
            h("progress", { max: regen.total, value: regen.reenrolled, "aria-label": "Re-enrollment progress" }))
        : null);
  } catch (e) {
    fill(main(), h("h1", {}, "CA overview"), h("p", { class: "error", role: "alert" }, messageOf(e)));
  }
}
