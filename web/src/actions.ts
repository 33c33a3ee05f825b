/** Sign, reject, revoke and clean through the API, with the confirmation each needs. */
import { api, messageOf, type Results } from "./api.js";
import { confirmDialog, h, say } from "./dom.js";

export const REASONS = ["keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged", "unspecified"];

/** Posts an action and reports per-name outcomes; resolves to the results (undefined when it failed as a whole). */
export async function act(action: "sign" | "reject" | "revoke" | "clean", body: Record<string, unknown>): Promise<Results | undefined> {
  try {
    const r = await api<Results>("POST", `/actions/${action}`, body);
    const failures = r.items.filter((i) => !i.ok).map((i) => `${i.name}: ${i.error?.message ?? "failed"}`);
    say(`${action}: ${r.ok} done${failures.length ? `, ${failures.length} failed — ${failures.join("; ")}` : ""}`);
    return r;
  } catch (e) {
    say(`${action} failed: ${messageOf(e)}`);
    return undefined;
  }
}

/** Revoke with a reason, after a confirmation naming what is revoked. */
export async function revokeWithConfirm(names: string[]): Promise<Results | undefined> {
  const select = h("select", { id: "revoke-reason" }, ...REASONS.map((r) => h("option", { value: r }, r)));
  const extra = h("p", {}, h("label", { for: "revoke-reason" }, "Reason", select));
  const ok = await confirmDialog(`Revoke ${names.length === 1 ? names[0] : `${names.length} certificates`}?`, [h("p", {}, "Revoked certificates are listed in the CRL; agents holding them can no longer connect. Revoking: ", names.join(", "))], "Revoke", extra);
  return ok ? act("revoke", { names, reason: select.value }) : undefined;
}

export async function cleanWithConfirm(names: string[]): Promise<Results | undefined> {
  const ok = await confirmDialog(`Clean ${names.length === 1 ? names[0] : `${names.length} certificates`}?`, [h("p", {}, "Cleaning revokes the certificate and removes it (and any pending request) from the CA, so the node can enroll again: ", names.join(", "))], "Clean");
  return ok ? act("clean", { names }) : undefined;
}
