/** The answer of the bulk sign endpoints, in Puppet Server's shape. */
import type { Logger } from "pino";
import type { CaError } from "../../ca/errors.js";

export interface SignReport {
  signed: string[];
  "no-csr": string[];
  "signing-errors": string[];
}

export function signReport(results: { name: string; error?: CaError }[], log: Logger): SignReport {
  const report: SignReport = { signed: [], "no-csr": [], "signing-errors": [] };
  for (const r of results) {
    if (!r.error) report.signed.push(r.name);
    // No pending request: never submitted ("not-found"), or already signed or removed meanwhile ("conflict").
    else if (r.error.kind === "not-found" || r.error.kind === "conflict") report["no-csr"].push(r.name);
    else {
      report["signing-errors"].push(r.name);
      log.warn({ name: r.name, kind: r.error.kind }, `could not sign ${r.name}: ${r.error.message}`);
    }
  }
  return report;
}
