/**
 * Liveness and readiness, for load balancers and systemd:
 *
 *   GET /healthz  200 "ok" whenever the process answers at all (its event loop runs): restart
 *                 it when this fails.
 *   GET /readyz   200 when the server can do its job: the store answers (within STORE_WAIT_MS),
 *                 the CA key is loaded, and the CRL has not passed its nextUpdate (agents
 *                 refuse an expired CRL, so a server serving one is as good as down). 503
 *                 otherwise. Either way one line per check says what was found.
 */
import type { CertificateAuthority } from "../../ca/authority.js";

/** How long the store may take to answer the readiness probe. */
export const STORE_WAIT_MS = 2_000;

export interface Check {
  name: "store" | "ca key" | "crl";
  ok: boolean;
  detail: string;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const why = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Runs the readiness checks; a check that cannot run (the store down) fails the ones after it with the reason. */
export async function readiness(ca: CertificateAuthority, now = new Date()): Promise<Check[]> {
  const t0 = performance.now();
  try {
    await within(ca.store.materialVersion(), STORE_WAIT_MS, `the store (${ca.store.location})`);
  } catch (e) {
    const detail = `unreachable: ${why(e)}`;
    return [{ name: "store", ok: false, detail }, { name: "ca key", ok: false, detail: "not checked: the store is unreachable" }, { name: "crl", ok: false, detail: "not checked: the store is unreachable" }];
  }
  const store: Check = { name: "store", ok: true, detail: `answered in ${Math.round(performance.now() - t0)} ms (${ca.store.location})` };
  let material;
  try {
    material = await within(ca.current(), STORE_WAIT_MS, "loading the CA");
  } catch (e) {
    return [store, { name: "ca key", ok: false, detail: `not loaded: ${why(e)}` }, { name: "crl", ok: false, detail: "not checked: the CA is not loaded" }];
  }
  const key: Check =
    material.key?.type === "private"
      ? { name: "ca key", ok: true, detail: `loaded (${material.key.asymmetricKeyType ?? "key"}), CA certificate valid until ${material.cert.notAfter.toISOString()}` }
      : { name: "ca key", ok: false, detail: material.keyProblem ?? "the CA's private key is not loaded" };
  const next = material.crl.nextUpdate;
  const crl: Check =
    next.getTime() > now.getTime()
      ? { name: "crl", ok: true, detail: `valid until ${next.toISOString()}, ${material.crl.serials.size} entries` }
      : { name: "crl", ok: false, detail: `expired at ${next.toISOString()}: agents refuse it; sign it again with \`fleetca ca refresh-crl\` (the server also does when it can)` };
  return [store, key, crl];
}

/** The body of /readyz: a first line saying ready or not, then one line per check. */
export function readinessText(checks: readonly Check[]): string {
  const ready = checks.every((c) => c.ok);
  return `${ready ? "ready" : "not ready"}\n${checks.map((c) => `${c.name}: ${c.ok ? "ok" : "FAILED"}, ${c.detail}`).join("\n")}\n`;
}
