/**
 * The floors under the pinned enrollment figures (pinned.ts): reference servers run with the
 * same load, pinned the same way, so that each target can be read against what any Node
 * server could do on that core.
 * - The HTTP floor (lib/floor-server.ts): bare node:https answering the four requests with
 *   canned bodies. TLS and HTTP alone.
 * - The crypto floor (lib/crypto-floor.ts): Node's crypto for one enrollment, timed alone.
 * - The lean server (lib/lean-server.ts): a durable enrollment and nothing else (the CSR
 *   checked, the certificate built and signed with fleetca's pki code, one journal fdatasync
 *   per batch, signed/NAME.pem and inventory.txt), and the same without the journal and
 *   files. What it costs is the least a durable Node CA server spends here; what fleetca
 *   spends beyond it is everything a CA product adds (rules, logs, index, audit, lock).
 *   It runs in rounds alternated with fleetca runs (leanRounds), the only fair comparison
 *   on a VM whose core speed moves by a quarter within minutes.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { agentIdentities } from "../lib/agents.js";
import { type CryptoFloor } from "../lib/crypto-floor.js";
import { startFloorServer } from "../lib/floor-server.js";
import { startLeanServer } from "../lib/lean-server.js";
import { runLoad, round, warmupFor, type LoadResult } from "../lib/load.js";
import { pinnedOpensslRate, pinSelf } from "../lib/pin.js";
import { fmt, type Row } from "../lib/results.js";
import { cpuMsOf } from "../lib/server.js";
import type { PinnedRun } from "./pinned.js";

export interface FloorRun {
  load: LoadResult;
  serverCpuMs: number;
  serverCpuPerEnrollmentMs: number;
}

interface ReferenceServer {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/** The pinned load (warm-up, then n timed enrollments) against a reference server, which is stopped after. */
async function loadReference(server: ReferenceServer, warmPrefix: string, n: number, concurrency: number, loadCpus: string): Promise<FloorRun> {
  let prev: string | undefined;
  try {
    prev = pinSelf(loadCpus);
    await runLoad({ url: server.url, agents: await agentIdentities(warmupFor(n), "ec", warmPrefix), concurrency, opensslSample: 0 });
    const cpu0 = cpuMsOf(server.pid);
    const load = await runLoad({ url: server.url, agents: await agentIdentities(n, "ec", "enroll"), concurrency, opensslSample: 0 });
    const serverCpuMs = cpuMsOf(server.pid) - cpu0;
    return { load, serverCpuMs: Math.round(serverCpuMs), serverCpuPerEnrollmentMs: round(serverCpuMs / Math.max(1, load.n), 3) };
  } finally {
    if (prev !== undefined) pinSelf(prev);
    await server.stop();
  }
}

/**
 * The HTTP floor: the bodies come from a P-256 run's CA directory (its TLS key and
 * certificate, the CA certificate, the CRL, one issued certificate). The certificate checks
 * fail by design (every agent gets the same certificate), so no certificate is checked.
 */
export async function pinnedFloor(cadir: string, n: number, concurrency: number, serverCpus = "0", loadCpus = "1"): Promise<FloorRun> {
  const ssl = join(dirname(cadir), "ssl");
  const issued = readdirSync(join(cadir, "signed")).find((f) => f.endsWith(".pem"));
  if (!issued) throw new Error(`no certificate in ${cadir}/signed for the floor server`);
  const server = await startFloorServer(
    {
      key: readFileSync(join(ssl, "private_keys", "ca.bench.test.pem"), "utf8"),
      cert: readFileSync(join(ssl, "certs", "ca.bench.test.pem"), "utf8"),
      caPem: readFileSync(join(cadir, "ca_crt.pem"), "utf8"),
      crlPem: readFileSync(join(cadir, "ca_crl.pem"), "utf8"),
      certPem: readFileSync(join(cadir, "signed", issued), "utf8"),
    },
    serverCpus,
  );
  return loadReference(server, "warm-ec-p256", n, concurrency, loadCpus);
}

export interface LeanRun extends FloorRun {
  /** Without the journal and the files (certificates kept in memory). */
  memoryOnly: FloorRun;
  /** `openssl speed` on the server's core before and after both runs. */
  limitBefore: number;
  limitAfter: number;
  limit: number;
}

/** The lean server on the CA of a fleetca run of that key type (its key, certificate and TLS files), durable, then memory-only. */
export async function pinnedLean(run: PinnedRun, n: number, concurrency: number): Promise<LeanRun> {
  const limitBefore = pinnedOpensslRate(run.keyType, run.serverCpus);
  const durable = await loadReference(await startLeanServer(run.cadir, run.serverCpus), `warm-${run.keyType}`, n, concurrency, run.loadCpus);
  const memoryOnly = await loadReference(await startLeanServer(run.cadir, run.serverCpus, true), `warm-${run.keyType}`, n, concurrency, run.loadCpus);
  const limitAfter = pinnedOpensslRate(run.keyType, run.serverCpus);
  return { ...durable, memoryOnly, limitBefore: round(limitBefore), limitAfter: round(limitAfter), limit: round((limitBefore + limitAfter) / 2) };
}

export function floorRow(f: FloorRun, ec: PinnedRun): Row {
  const l = f.load;
  return {
    measurement: `HTTP floor: the same load against bare node:https (no fastify, no CA work) answering the four requests with canned bodies, server on core ${ec.serverCpus}, N=${l.n.toLocaleString("en-US")}, C=${l.concurrency}`,
    fleetca: `${f.serverCpuPerEnrollmentMs.toFixed(2)} ms of server CPU per enrollment, ${fmt.rate(l.perSecond)}`,
    compare: `P-256 fleetca in this run: ${ec.serverCpuPerEnrollmentMs.toFixed(2)} ms → the floor is ${fmt.pct(f.serverCpuPerEnrollmentMs / ec.serverCpuPerEnrollmentMs)} of it; 1,500/s on one core needs ≤ 0.67 ms in all`,
    met: null,
  };
}

/**
 * What Node's crypto alone costs an enrollment on the server's core, and with the HTTP floor,
 * the most any Node server could reach there.
 */
export function cryptoFloorRows(ec: CryptoFloor, rsa: CryptoFloor, http: FloorRun, ecRun: PinnedRun, rsaRun: PinnedRun): Row[] {
  const us = (x: number) => `${Math.round(x)} µs`;
  const ms2 = (x: number) => `${x.toFixed(2)} ms`;
  const bound = http.serverCpuPerEnrollmentMs + ec.totalMs;
  const opensslSignMs = 1000 / rsaRun.limit;
  const rsaBound = opensslSignMs / (http.serverCpuPerEnrollmentMs + rsa.totalMs);
  return [
    {
      measurement: `Crypto floor: Node's crypto for one P-256 enrollment on core ${ecRun.serverCpus} (fleetca's functions, CPU time, distinct CSRs): the CSR's key built + its signature verified + one P-256 signature`,
      fleetca: `${us(ec.keyUs)} + ${us(ec.verifyUs)} + ${us(ec.signUs)} = ${ms2(ec.totalMs)}`,
      compare: `openssl speed signs P-256 in ${us(1e6 / ecRun.limit)} on that core; with the HTTP floor (${ms2(http.serverCpuPerEnrollmentMs)}): ${ms2(bound)} → a Node server doing nothing else: ≤ ${fmt.rate(1000 / bound)}; fleetca's ${ms2(ecRun.serverCpuPerEnrollmentMs)} is ${ms2(ecRun.serverCpuPerEnrollmentMs - bound)} above it`,
      met: null,
    },
    {
      measurement: `Crypto floor, RSA-4096 CA: the same P-256 CSR key and verification + one RSA-4096 signature by Node on core ${rsaRun.serverCpus}`,
      fleetca: `${us(rsa.keyUs)} + ${us(rsa.verifyUs)} + ${ms2(rsa.signUs / 1000)} = ${ms2(rsa.totalMs)}`,
      compare: `openssl speed's signature: ${ms2(opensslSignMs)} (Node's ×${(rsa.signUs / 1000 / opensslSignMs).toFixed(2)}); with the HTTP floor a Node server doing nothing else reaches ≤ ${fmt.pct(rsaBound)} of the limit; fleetca ${fmt.pct(rsaRun.load.perSecond / rsaRun.limit)}`,
      met: null,
    },
  ];
}

/** A fleetca run and the lean server's two runs right after it on the same CA: one round of the comparison. */
export interface LeanRound {
  fleetca: PinnedRun;
  lean: LeanRun;
}

/**
 * fleetca and the lean server alternated, `rounds` times (fleetca, lean, lean in memory, ...):
 * this VM's core speeds up and slows down by a quarter within minutes, so only runs minutes
 * apart compare.
 */
export async function leanRounds(enroll: () => Promise<PinnedRun>, n: number, concurrency: number, rounds = 2): Promise<LeanRound[]> {
  const out: LeanRound[] = [];
  for (let i = 0; i < rounds; i++) {
    const fleetca = await enroll();
    out.push({ fleetca, lean: await pinnedLean(fleetca, n, concurrency) });
  }
  return out;
}

/** The lean server beside fleetca, round by round: the figure the target asks of fleetca, reached (or not) by a server that does nothing else. */
export function leanRow(rounds: LeanRound[]): Row {
  const isRsa = rounds[0]!.fleetca.keyType === "rsa-4096";
  const figure = (r: FloorRun, limit: number) => (isRsa ? fmt.pct(r.load.perSecond / limit) : fmt.rate(r.load.perSecond));
  const checked = rounds.every(({ lean }) => lean.load.failed === 0 && lean.load.check.signatureOk === lean.load.n);
  const ratio = (a: number, b: number) => `×${(a / b).toFixed(2)}`;
  const each = (f: (r: LeanRound) => string) => rounds.map(f).join("; ");
  // This VM's core speed moves within minutes: a round whose limit moved by over a tenth between before and after is starred.
  const moved = (l: LeanRun) => Math.abs(l.limitAfter - l.limitBefore) > 0.1 * l.limitBefore;
  const star = (l: LeanRun) => (moved(l) ? "*" : "");
  return {
    measurement:
      `Lean server, ${isRsa ? "RSA-4096" : "P-256"}: a Node server doing only the durable enrollment (fleetca's pki code: CSR parsed, verified, CN checked; certificate built and signed; ` +
      `one journal fdatasync per batch; signed/NAME.pem and inventory.txt; no routing rules, logs, index, audit, metrics or lock), same load and pins, then the same without the journal and files; ` +
      `alternated with fleetca, ${rounds.length} rounds: ${isRsa ? "share of the limit" : "enrollments/s"} and CPU per enrollment`,
    fleetca:
      each(({ lean }) => `${figure(lean, lean.limit)}${star(lean)} ${fmt.ms(lean.serverCpuPerEnrollmentMs)}, in memory ${figure(lean.memoryOnly, lean.limit)}${star(lean)} ${fmt.ms(lean.memoryOnly.serverCpuPerEnrollmentMs)}`) +
      (checked ? "" : " (certificates failed their check)"),
    compare:
      `target ${isRsa ? "80% of the limit" : "1,500/s"}; fleetca just before each: ` +
      each(({ fleetca, lean }) => `${figure(fleetca, fleetca.limit)} ${fmt.ms(fleetca.serverCpuPerEnrollmentMs)} (${ratio(fleetca.serverCpuPerEnrollmentMs, lean.serverCpuPerEnrollmentMs)} the lean server's CPU)`) +
      `; the limit around the lean runs ${each(({ lean }) => `${fmt.rate(lean.limitBefore)} / ${fmt.rate(lean.limitAfter)}`)}` +
      (rounds.some(({ lean }) => moved(lean)) ? " (*: the core's speed moved by over a tenth during the round; its figures do not compare)" : ""),
    met: null,
  };
}
