/**
 * Scenario 2a: N pending requests (submitted through the CA as the server would, with
 * autosign off), then `fleetca ca sign --all` as a separate process, timed from spawn to
 * exit and compared with the machine's RSA-4096 signing limit measured just before.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { agentIdentities } from "../lib/agents.js";
import { opensslVerify } from "../lib/check.js";
import { fleetcaCli, freshCa, inProcessCa, submitPending } from "../lib/fleetca.js";
import { signingLimit } from "../lib/limit.js";
import { round } from "../lib/load.js";
import { fmt, machine, type ScenarioResult } from "../lib/results.js";

export interface SignAllOptions {
  pending: number;
  command: string;
}

export async function signAllScenario(o: SignAllOptions): Promise<ScenarioResult> {
  const cadir = await freshCa("signall", "rsa-4096");
  const agents = await agentIdentities(o.pending, "ec", "pending");
  const t0 = performance.now();
  await submitPending(inProcessCa(cadir), agents);
  const submitMs = performance.now() - t0;

  const limit = await signingLimit("rsa-4096", readFileSync(join(cadir, "ca_key.pem"), "utf8"));
  const run = await fleetcaCli(["ca", "sign", "--all", "--cadir", cadir]);
  if (run.code !== 0) throw new Error(`fleetca ca sign --all failed (${run.code}): ${run.stderr.slice(0, 2000)}`);
  const signed = readdirSync(join(cadir, "signed")).filter((f) => f.endsWith(".pem"));
  const perSecond = (o.pending / run.ms) * 1000;
  const ratio = perSecond / limit.limitPerSecond;
  const sample = signed.filter((_, i) => i % Math.max(1, Math.floor(signed.length / 20)) === 0).slice(0, 20);
  const check = opensslVerify(
    readFileSync(join(cadir, "ca_crt.pem"), "utf8"),
    readFileSync(join(cadir, "ca_crl.pem"), "utf8"),
    sample.map((f) => readFileSync(join(cadir, "signed", f), "utf8")),
  );
  const allSigned = signed.length === o.pending && check.ok === check.sample;
  return {
    scenario: "signall",
    title: `\`fleetca ca sign --all\` of ${o.pending.toLocaleString("en-US")} pending requests (RSA-4096 CA)`,
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows: [
      {
        measurement: `sign --all of ${o.pending.toLocaleString("en-US")}: wall time, certificates/s`,
        fleetca: `${fmt.ms(run.ms)}, ${fmt.rate(perSecond)}`,
        compare: `signing limit ${fmt.rate(limit.limitPerSecond)} → ${fmt.pct(ratio)}; Puppet Server (reference): 12.6/s`,
        target: "≥ 70% of the signing limit",
        met: ratio >= 0.7 && allSigned,
      },
      {
        measurement: `signed files, openssl verify of a sample`,
        fleetca: `${signed.length.toLocaleString("en-US")} files, ${check.ok}/${check.sample} OK`,
        met: allSigned,
      },
      { measurement: "submitting the requests in process (autosign off), 8 in flight", fleetca: fmt.rate((o.pending / submitMs) * 1000), met: null },
    ],
    limits:
      "The RSA-4096 signatures are most of the command's CPU (docs/performance.md has a profile) and are the floor: about 5 ms of one core " +
      "each, a little more than in the limit's tight loop. `sign --all` keeps 32 certificates in flight, " +
      "signatures on the libuv pool (one per core); the main thread meanwhile reads and verifies each CSR, " +
      "builds the TBSCertificate and stores the certificate, the inventory line and the index record (fsynced, " +
      "group-committed). The wall time includes Node's start-up and reading the index of pending requests.",
    data: { limit, wallMs: Math.round(run.ms), perSecond: round(perSecond), ratio: round(ratio, 3), submitMs: Math.round(submitMs), openssl: check, stderrTail: run.stderr.slice(-500) },
  };
}
