/**
 * Using every core (issue 15): enrollment throughput with the server pinned to one core and
 * to both, and with two server processes (one per core) on the same CA directory, the
 * agents split between them, as a cluster behind a load balancer would be; and with one
 * `fleetca server --workers 2` (two processes on one port, node:cluster). This machine
 * has two cores, so in the two-core runs the load generator shares a core with the server;
 * its CPU per enrollment is reported beside each figure. The limit is `openssl speed` on
 * the same cores in the same run (-multi 2 for both).
 *
 *   npm run bench -- --only cores              RSA-4096 and P-256, N=2,000 (P-256: 4,000)
 *   npm run bench -- --only cores --n 300
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { agentIdentities } from "../lib/agents.js";
import { freshCa, removeScratchCas, scratchCa, type CaKeyType } from "../lib/fleetca.js";
import { TMP_DIR } from "../lib/paths.js";
import { runLoad, round } from "../lib/load.js";
import { pinnedOpensslRate } from "../lib/pin.js";
import { fmt, machine, type Row, type ScenarioResult } from "../lib/results.js";
import { cpuMsOf, startServer } from "../lib/server.js";
import { pinnedEnroll, type PinnedRun } from "./pinned.js";

export interface CoresOptions {
  n: number;
  concurrency: number;
  command: string;
}

interface TwoServers {
  keyType: CaKeyType;
  perSecond: number;
  failed: number;
  serverCpuPerEnrollmentMs: number;
  limit: number;
  /** What sharedStoreProblems found after the run (none expected). */
  problems: string[];
}

/** Two `fleetca server` processes on one CA directory, one per core, each given half the agents. */
async function twoServers(keyType: CaKeyType, n: number, concurrency: number): Promise<TwoServers> {
  const cadir = await freshCa(`cores-${keyType}`, keyType);
  const agents = await agentIdentities(n, "ec", "enroll");
  // The first start makes the server's certificate; the second finds it.
  const a = await startServer({ cadir, cpus: "0" });
  const b = await startServer({ cadir, cpus: "1" });
  try {
    const warm = await agentIdentities(20, "ec", `warm-${keyType}`);
    await runLoad({ url: a.url, agents: warm.slice(0, 10), concurrency: 4, opensslSample: 0 });
    await runLoad({ url: b.url, agents: warm.slice(10), concurrency: 4, opensslSample: 0 });
    const cpu0 = cpuMsOf(a.pid) + cpuMsOf(b.pid);
    const t0 = performance.now();
    const half = Math.ceil(n / 2);
    const [la, lb] = await Promise.all([
      runLoad({ url: a.url, agents: agents.slice(0, half), concurrency: Math.ceil(concurrency / 2) }),
      runLoad({ url: b.url, agents: agents.slice(half), concurrency: Math.floor(concurrency / 2) }),
    ]);
    const wall = performance.now() - t0;
    const cpu = cpuMsOf(a.pid) + cpuMsOf(b.pid) - cpu0;
    const limit = pinnedOpensslRate(keyType, "0,1");
    await a.stop();
    await b.stop();
    const consistent = sharedStoreProblems(cadir, la.succeeded + lb.succeeded + warm.length);
    return { keyType, perSecond: round(((la.succeeded + lb.succeeded) / wall) * 1000), failed: la.failed + lb.failed, serverCpuPerEnrollmentMs: round(cpu / n, 2), limit: round(limit), problems: consistent };
  } finally {
    await a.stop();
    await b.stop();
  }
}

/**
 * One `fleetca server --workers 2`: two processes on one port, the primary handing them the
 * connections in turn (node:cluster), as an operator runs it. Its CPU is the primary's and
 * the workers' together.
 */
async function workersServer(keyType: CaKeyType, n: number, concurrency: number): Promise<TwoServers> {
  const cadir = await scratchCa(`workers-${keyType}`, keyType);
  const agents = await agentIdentities(n, "ec", "enroll");
  const logFile = join(TMP_DIR, `workers-${keyType}.log`);
  const s = await startServer({ cadir, cpus: "0,1", args: ["--workers", "2"], logFile });
  try {
    const pids = [s.pid, ...(await workerPids(logFile))];
    const warm = await agentIdentities(20, "ec", `warm-w-${keyType}`);
    await runLoad({ url: s.url, agents: warm, concurrency: 4, opensslSample: 0 });
    const cpu = () => pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
    const cpu0 = cpu();
    const t0 = performance.now();
    const l = await runLoad({ url: s.url, agents, concurrency });
    const wall = performance.now() - t0;
    const used = cpu() - cpu0;
    const limit = pinnedOpensslRate(keyType, "0,1");
    await s.stop();
    const problems = sharedStoreProblems(cadir, l.succeeded + warm.length);
    return { keyType, perSecond: round((l.succeeded / wall) * 1000), failed: l.failed, serverCpuPerEnrollmentMs: round(used / n, 2), limit: round(limit), problems };
  } finally {
    await s.stop();
  }
}

/** The workers' pids, from the primary's "workers listening" log line (the server answers as soon as the first listens). */
async function workerPids(logFile: string): Promise<number[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const line = readFileSync(logFile, "utf8").split("\n").find((l) => l.includes('"msg":"workers listening"'));
    if (line) return (JSON.parse(line) as { pids: number[] }).pids;
    if (Date.now() > deadline) throw new Error(`fleetca server --workers 2 did not report its workers within 30 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * What two servers sharing one CA directory must not do: issue a serial twice, leave a
 * certificate without its inventory line, or lose one an agent received (fewer files than
 * enrollments). The serial counter must be past every serial issued.
 */
function sharedStoreProblems(cadir: string, enrolled: number): string[] {
  const problems: string[] = [];
  const lines = readFileSync(join(cadir, "inventory.txt"), "utf8").split("\n").filter(Boolean);
  const serials = lines.map((l) => BigInt(l.split(" ")[0]!));
  if (new Set(serials).size !== serials.length) problems.push(`${serials.length - new Set(serials).size} serial(s) issued twice`);
  const subjects = new Set(lines.map((l) => l.slice(l.lastIndexOf(" /CN=") + 5)));
  const files = readdirSync(join(cadir, "signed")).filter((f) => f.endsWith(".pem")).map((f) => f.slice(0, -4));
  const without = files.filter((f) => !subjects.has(f));
  if (without.length > 0) problems.push(`${without.length} certificate(s) without an inventory line (${without.slice(0, 3).join(", ")})`);
  // The servers' own certificate is in signed/ too.
  if (files.length < enrolled) problems.push(`${files.length} certificates in signed/ for ${enrolled} enrollments`);
  const next = BigInt(`0x${readFileSync(join(cadir, "serial"), "utf8").trim()}`);
  const top = serials.reduce((m, x) => (x > m ? x : m), 0n);
  if (next <= top) problems.push(`serial counter ${next} is not past the highest serial issued (${top})`);
  return problems;
}

function row(label: string, r: PinnedRun): Row {
  return {
    measurement: `${r.keyType}: ${label}`,
    fleetca: `${fmt.rate(r.load.perSecond)}; server ${fmt.ms(r.serverCpuPerEnrollmentMs)} CPU per enrollment`,
    compare: `limit of core(s) ${r.serverCpus}: ${fmt.rate(r.limit)} → ${fmt.pct(r.load.perSecond / r.limit)}; load generator ${fmt.ms(r.load.clientCpuPerEnrollmentMs)} per enrollment on core ${r.loadCpus}`,
    met: r.load.failed === 0 ? null : false,
  };
}

export async function coresScenario(o: CoresOptions): Promise<ScenarioResult> {
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  for (const keyType of ["rsa-4096", "ec-p256"] as CaKeyType[]) {
    const n = keyType === "ec-p256" ? o.n * 2 : o.n;
    const one = await pinnedEnroll(keyType, n, o.concurrency, "0", "1");
    const two = await pinnedEnroll(keyType, n, o.concurrency, "0,1", "1");
    const pair = await twoServers(keyType, n, o.concurrency);
    const workers = await workersServer(keyType, n, o.concurrency);
    rows.push(row("one server, one core (load on the other)", one), row("one server, both cores (load shares core 1)", two));
    rows.push({
      measurement: `${keyType}: two servers on one CA directory, one per core (load shares both)`,
      fleetca: `${fmt.rate(pair.perSecond)}; servers ${fmt.ms(pair.serverCpuPerEnrollmentMs)} CPU per enrollment`,
      compare: `limit of both cores ${fmt.rate(pair.limit)} → ${fmt.pct(pair.perSecond / pair.limit)}; ×${(pair.perSecond / one.load.perSecond).toFixed(2)} one server on one core, ×${(pair.perSecond / two.load.perSecond).toFixed(2)} one server on both`,
      met: pair.failed === 0 ? null : false,
    });
    rows.push({
      measurement: `${keyType}: the shared CA directory after the two servers (serials issued once, every certificate in inventory.txt, the counter past them)`,
      fleetca: pair.problems.length === 0 ? "consistent" : pair.problems.join("; "),
      met: pair.problems.length === 0,
    });
    rows.push({
      measurement: `${keyType}: one server with --workers 2 (two processes on one port; load shares both cores)`,
      fleetca: `${fmt.rate(workers.perSecond)}; primary and workers ${fmt.ms(workers.serverCpuPerEnrollmentMs)} CPU per enrollment`,
      compare: `limit of both cores ${fmt.rate(workers.limit)} → ${fmt.pct(workers.perSecond / workers.limit)}; ×${(workers.perSecond / one.load.perSecond).toFixed(2)} one server on one core, ×${(workers.perSecond / two.load.perSecond).toFixed(2)} one server on both`,
      met: workers.failed === 0 ? null : false,
    });
    rows.push({
      measurement: `${keyType}: the CA directory after --workers 2 (serials issued once, every certificate in inventory.txt, the counter past them)`,
      fleetca: workers.problems.length === 0 ? "consistent" : workers.problems.join("; "),
      met: workers.problems.length === 0,
    });
    data[keyType] = { one, two, pair, workers };
  }
  removeScratchCas(); // pinnedEnroll's CA directories, after every timed part
  return {
    scenario: "cores",
    title: "using every core: one and two pinned cores, one and two server processes",
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows,
    limits:
      "One server process signs on the libuv pool, one signature per core, so RSA-4096 uses every core it is given; everything else is on its one event loop, " +
      "which is what binds P-256. Two processes on one CA directory share the CA lock (a file) and follow each other's index journal. docs/performance.md explains " +
      "the growth to 16 or 64 cores and to several servers on one PostgreSQL from these figures.",
    data,
  };
}
