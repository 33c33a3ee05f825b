/**
 * The crypto floor of one enrollment: what Node's crypto costs on the server's core for the
 * three operations every enrollment needs (the CSR's public key built, its signature verified,
 * the certificate signed), run by fleetca's own functions in a child process pinned like the
 * server (crypto-floor-child.ts), in CPU time. Beside the HTTP floor it bounds what any Node
 * server can reach on that core, whatever else it does or skips.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TMP_DIR } from "./paths.js";

export interface CryptoFloor {
  /** Microseconds of CPU each: building a CSR's public key, verifying its signature, one CA signature. */
  keyUs: number;
  verifyUs: number;
  signUs: number;
  /** The three together, ms. */
  totalMs: number;
}

const child = fileURLToPath(new URL("./crypto-floor-child.ts", import.meta.url));

/** `cadir`: a CA made by the run (its ca_key.pem, unencrypted); the CSRs are the run's agents (`agents-ec-<prefix>.json`). */
export function cryptoFloor(cadir: string, cpus: string, csrs = 3000, prefix = "enroll"): CryptoFloor {
  const args = ["-c", cpus, process.execPath, "--import", "tsx", child, join(cadir, "ca_key.pem"), join(TMP_DIR, `agents-ec-${prefix}.json`), String(csrs)];
  const r = spawnSync("taskset", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`the crypto floor's child failed: ${r.stderr.slice(0, 400)}`);
  const o = JSON.parse(r.stdout.trim().split("\n").pop()!) as { keyUs: number; verifyUs: number; signUs: number };
  const round1 = (x: number) => Math.round(x * 10) / 10;
  return { keyUs: round1(o.keyUs), verifyUs: round1(o.verifyUs), signUs: round1(o.signUs), totalMs: Math.round(o.keyUs + o.verifyUs + o.signUs) / 1000 };
}
