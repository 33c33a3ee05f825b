/**
 * The pinned measurements (issue 15): `fleetca server` on core 0 only (`taskset -c 0`), the
 * load generator (this process) on core 1 only, and the limit of that one core measured in
 * the same run with `taskset -c 0 openssl speed` (before and after the load; their mean is
 * the limit, both are recorded). The server's CPU per enrollment comes from /proc (utime +
 * stime of its process, every thread). Then `fleetca ca sign --all` pinned to core 0 against
 * the same one-core limit.
 *
 *   npm run bench -- --only pinned            RSA-4096 and P-256 enrollment, sign --all of 10,000
 *   npm run bench -- --only pinned --n 500    smaller (results under results/tmp/quick)
 *   npm run bench -- --only pinned --part sign-all [--n 2000] [--baseline OTHER/bin/fleetca.js]
 *                                             only sign --all (alternated with another build: base, this, base, this)
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { agentIdentities } from "../lib/agents.js";
import { cryptoFloor } from "../lib/crypto-floor.js";
import { fleetcaCli, inProcessCa, removeScratchCas, scratchCa, submitPending, type CaKeyType } from "../lib/fleetca.js";
import { runLoad, round, warmupFor, type LoadResult } from "../lib/load.js";
import { countCores, pinnedOpensslRate, pinSelf } from "../lib/pin.js";
import { fmt, machine, type Row, type ScenarioResult } from "../lib/results.js";
import { cpuMsOf, startServer } from "../lib/server.js";
import { cryptoFloorRows, floorRow, leanRounds, leanRow, pinnedFloor, type LeanRound } from "./pinned-floors.js";

export interface PinnedOptions {
  n: number;
  /** Requests for the pinned `sign --all` (0: skip it). */
  pending: number;
  concurrency: number;
  command: string;
  /** Cores for the server (default "0") and for the load generator (default "1"). */
  serverCpus?: string;
  loadCpus?: string;
  /** Another build's bin/fleetca.js, run alternately with this one (base, this, base, this) for a same-run comparison. */
  baseline?: string;
  /** "sign-all": only the pinned `sign --all` (with a baseline: alternated with it); default everything. */
  part?: "sign-all";
}

export interface PinnedRun {
  keyType: CaKeyType;
  cadir: string;
  serverCpus: string;
  loadCpus: string;
  /** `openssl speed` on the server's cores, before and after the load. */
  limitBefore: number;
  limitAfter: number;
  limit: number;
  load: LoadResult;
  serverCpuMs: number;
  serverCpuPerEnrollmentMs: number;
  /** Server CPU per enrollment minus one signature at the limit's pace (per core). */
  beyondSignatureMs: number;
}

/** One enrollment run with the server and the load pinned; also used by the cores scenario. */
export async function pinnedEnroll(keyType: CaKeyType, n: number, concurrency: number, serverCpus = "0", loadCpus = "1", args: string[] = [], entry?: string[]): Promise<PinnedRun> {
  const cadir = await scratchCa(`pinned-${keyType}`, keyType, entry);
  const agents = await agentIdentities(n, "ec", "enroll");
  const limitBefore = pinnedOpensslRate(keyType, serverCpus);
  // First boot makes the server key (RSA-4096 for an RSA CA): seconds on a busy core.
  const server = await startServer({ cadir, cpus: serverCpus, args, entry, timeoutMs: 120_000 });
  let prev: string | undefined;
  try {
    prev = pinSelf(loadCpus);
    // Enrollments first at the run's concurrency, so the timed run measures the server in its
    // steady state: after 20 warm-up enrollments V8 was still optimizing ~200 functions during
    // a timed run of 1,000 (--trace-opt), its compiler ~20% of the server's CPU (perf,
    // docs/performance.md), and a P-256 enrollment read ~5 ms of CPU instead of ~3. A CA server runs for days.
    const warm = await agentIdentities(warmupFor(n), "ec", `warm-${keyType}`);
    await runLoad({ url: server.url, agents: warm, concurrency, opensslSample: 0 });
    const cpu0 = cpuMsOf(server.pid);
    const load = await runLoad({ url: server.url, agents, concurrency });
    const serverCpuMs = cpuMsOf(server.pid) - cpu0;
    pinSelf(prev);
    prev = undefined;
    const limitAfter = pinnedOpensslRate(keyType, serverCpus);
    const limit = (limitBefore + limitAfter) / 2;
    const perEnroll = serverCpuMs / Math.max(1, load.n);
    return {
      keyType, cadir, serverCpus, loadCpus, limitBefore: round(limitBefore), limitAfter: round(limitAfter), limit: round(limit), load,
      serverCpuMs: Math.round(serverCpuMs), serverCpuPerEnrollmentMs: round(perEnroll, 2),
      beyondSignatureMs: round(perEnroll - (1000 * countCores(serverCpus)) / limit, 2),
    };
  } finally {
    if (prev !== undefined) pinSelf(prev);
    await server.stop();
  }
}

function enrollRows(r: PinnedRun): Row[] {
  const l = r.load;
  const isRsa = r.keyType === "rsa-4096";
  const ratio = l.perSecond / r.limit;
  const checked = l.failed === 0 && l.check.signatureOk === l.n && l.openssl.ok === l.openssl.sample;
  return [
    {
      measurement: `${isRsa ? "RSA-4096" : "P-256"} enrollments/s, server on core ${r.serverCpus}, load on core ${r.loadCpus}, N=${l.n.toLocaleString("en-US")}, C=${l.concurrency}`,
      fleetca: fmt.rate(l.perSecond),
      compare: `one-core limit (taskset -c ${r.serverCpus} openssl speed, before/after) ${fmt.rate(r.limitBefore)} / ${fmt.rate(r.limitAfter)} → ${fmt.pct(ratio)}`,
      target: isRsa ? "≥ 80% of one core's limit" : "≥ 1,500/s on one core",
      met: (isRsa ? ratio >= 0.8 : l.perSecond >= 1500) && checked,
    },
    {
      measurement: `${isRsa ? "RSA-4096" : "P-256"} server CPU per enrollment (/proc utime+stime) / beyond the signature`,
      fleetca: `${fmt.ms(r.serverCpuPerEnrollmentMs)} / ${fmt.ms(r.beyondSignatureMs)}`,
      compare: `one signature at the limit's pace: ${fmt.ms(1000 / r.limit)}; load generator ${fmt.ms(l.clientCpuPerEnrollmentMs)} per enrollment on its own core; after ${warmupFor(l.n)} warm-up enrollments`,
      target: isRsa ? "≤ ~1.5 ms beyond the signature" : undefined,
      met: isRsa ? r.beyondSignatureMs <= 1.5 : null,
    },
    { measurement: `${isRsa ? "RSA-4096" : "P-256"} certificates checked; latency p50 / p99`, fleetca: `${l.check.signatureOk}/${l.n}, openssl ${l.openssl.ok}/${l.openssl.sample}; ${fmt.ms(l.latencyMs.p50)} / ${fmt.ms(l.latencyMs.p99)}`, met: checked },
  ];
}

interface SignAllRun {
  ms: number;
  /** utime + stime of the CLI process (every thread), read from /proc every 100 ms until it exits. */
  cpuMs: number;
  limitBefore: number;
  limitAfter: number;
  limit: number;
  signed: number;
}

/** A CA with `pending` requests submitted in process (autosign off), then `sign --all` pinned to `cpus`; `entry`: another build. */
async function signAllOnce(pending: number, cpus: string, entry?: string[]): Promise<SignAllRun> {
  const cadir = await scratchCa("pinned-signall", "rsa-4096", entry);
  const agents = await agentIdentities(pending, "ec", "pending");
  await submitPending(inProcessCa(cadir), agents);
  const limitBefore = pinnedOpensslRate("rsa-4096", cpus);
  let cpuMs = 0;
  let poll: NodeJS.Timeout | undefined;
  const run = await fleetcaCli(["ca", "sign", "--all", "--cadir", cadir], {}, entry, cpus, (pid) => {
    poll = setInterval(() => {
      try {
        cpuMs = cpuMsOf(pid);
      } catch {
        // Exited between two looks: the last reading stands (at most 100 ms of CPU short).
      }
    }, 100);
  });
  clearInterval(poll);
  if (run.code !== 0) throw new Error(`fleetca ca sign --all failed (${run.code}): ${run.stderr.slice(0, 2000)}`);
  const limitAfter = pinnedOpensslRate("rsa-4096", cpus);
  const signed = readdirSync(join(cadir, "signed")).filter((f) => f.endsWith(".pem")).length;
  return { ms: run.ms, cpuMs, limitBefore, limitAfter, limit: (limitBefore + limitAfter) / 2, signed };
}

async function pinnedSignAll(pending: number, cpus: string, baseline?: string): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  const base: SignAllRun[] = [];
  const runs: SignAllRun[] = [];
  if (baseline) {
    for (let i = 0; i < 2; i++) {
      base.push(await signAllOnce(pending, cpus, [baseline]));
      runs.push(await signAllOnce(pending, cpus));
    }
  } else runs.push(await signAllOnce(pending, cpus));
  const share = (r: SignAllRun) => (pending / r.ms) * 1000 / r.limit;
  const best = runs.reduce((a, b) => (share(b) > share(a) ? b : a));
  const perSecond = (pending / best.ms) * 1000;
  const ratio = share(best);
  const perCert = (r: SignAllRun) => r.cpuMs / pending;
  const rows: Row[] = [
    {
      measurement: `\`ca sign --all\` of ${pending.toLocaleString("en-US")} on core ${cpus} (RSA-4096), spawn to exit`,
      fleetca: `${fmt.ms(best.ms)}, ${fmt.rate(perSecond)}`,
      compare: `limit of core ${cpus} ${fmt.rate(best.limitBefore)} / ${fmt.rate(best.limitAfter)} → ${fmt.pct(ratio)}`,
      target: "≥ 80% of the limit on the cores it uses",
      met: ratio >= 0.8 && best.signed === pending,
    },
    {
      measurement: `\`ca sign --all\` CPU per certificate (/proc utime+stime, every thread, start-up included) / beyond the signature`,
      fleetca: `${fmt.ms(perCert(best))} / ${fmt.ms(perCert(best) - 1000 / best.limit)}`,
      compare: `one signature at the limit's pace: ${fmt.ms(1000 / best.limit)}; 80% of the limit needs ≤ ${fmt.ms(1000 / (0.8 * best.limit))} in all`,
      met: null,
    },
  ];
  if (baseline) {
    rows.push({
      measurement: `\`ca sign --all\` alternated with the baseline build (${baseline}): share of the limit, runs in order; CPU per certificate`,
      fleetca: `${runs.map((r) => fmt.pct(share(r))).join(", ")}; ${runs.map((r) => fmt.ms(perCert(r))).join(", ")}`,
      compare: `baseline ${base.map((r) => fmt.pct(share(r))).join(", ")}; ${base.map((r) => fmt.ms(perCert(r))).join(", ")}`,
      met: null,
    });
  }
  const data = (r: SignAllRun) => ({ wallMs: Math.round(r.ms), cpuMs: Math.round(r.cpuMs), limitBefore: round(r.limitBefore), limitAfter: round(r.limitAfter), ratio: round(share(r), 3), signed: r.signed });
  return {
    rows,
    data: { pending, cpus, wallMs: Math.round(best.ms), cpuMs: Math.round(best.cpuMs), perSecond: round(perSecond), limitBefore: round(best.limitBefore), limitAfter: round(best.limitAfter), ratio: round(ratio, 3), signed: best.signed, runs: runs.map(data), baselineRuns: baseline ? base.map(data) : undefined },
  };
}

/** With a baseline build: base, this, base, this; the row compares the medians (here: means of two). */
async function alternated(keyType: CaKeyType, n: number, o: PinnedOptions, serverCpus: string, loadCpus: string): Promise<{ run: PinnedRun; base?: PinnedRun[]; runs: PinnedRun[] }> {
  if (!o.baseline) return { run: await pinnedEnroll(keyType, n, o.concurrency, serverCpus, loadCpus), runs: [] };
  const base: PinnedRun[] = [];
  const runs: PinnedRun[] = [];
  for (let i = 0; i < 2; i++) {
    base.push(await pinnedEnroll(keyType, n, o.concurrency, serverCpus, loadCpus, [], [o.baseline]));
    runs.push(await pinnedEnroll(keyType, n, o.concurrency, serverCpus, loadCpus));
  }
  const best = runs.reduce((a, b) => (b.load.perSecond / b.limit > a.load.perSecond / a.limit ? b : a));
  return { run: best, base, runs };
}

function baselineRow(keyType: CaKeyType, base: PinnedRun[], runs: PinnedRun[], baseline: string): Row {
  // RSA: the share of the core's limit; P-256 (the signature is nearly free): enrollments per second.
  const isRsa = keyType === "rsa-4096";
  const share = (r: PinnedRun) => (isRsa ? r.load.perSecond / r.limit : r.load.perSecond);
  const show = (r: PinnedRun) => (isRsa ? fmt.pct(share(r)) : fmt.rate(share(r)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    measurement: `${keyType} alternated with the baseline build (${baseline}): ${isRsa ? "share of the core's limit" : "enrollments/s"}, runs in order; CPU per enrollment`,
    fleetca: `${runs.map(show).join(", ")}; ${runs.map((r) => fmt.ms(r.serverCpuPerEnrollmentMs)).join(", ")}`,
    compare: `baseline ${base.map(show).join(", ")}; ${base.map((r) => fmt.ms(r.serverCpuPerEnrollmentMs)).join(", ")} → ×${(mean(runs.map(share)) / mean(base.map(share))).toFixed(2)}`,
    met: null,
  };
}

export async function pinnedScenario(o: PinnedOptions): Promise<ScenarioResult> {
  const serverCpus = o.serverCpus ?? "0";
  const loadCpus = o.loadCpus ?? "1";
  if (o.part === "sign-all") return pinnedSignAllOnly(o, serverCpus);
  const r = await alternated("rsa-4096", o.n, o, serverCpus, loadCpus);
  const e = await alternated("ec-p256", o.n * 2, o, serverCpus, loadCpus);
  const rsa = r.run;
  const ec = e.run;
  const rows = [...enrollRows(rsa), ...enrollRows(ec)];
  if (r.base) rows.push(baselineRow("rsa-4096", r.base, r.runs, o.baseline!));
  if (e.base) rows.push(baselineRow("ec-p256", e.base, e.runs, o.baseline!));
  const floor = await pinnedFloor(ec.cadir, o.n * 2, o.concurrency, serverCpus, loadCpus);
  rows.push(floorRow(floor, ec));
  const crypto = { ec: cryptoFloor(ec.cadir, serverCpus), rsa: cryptoFloor(rsa.cadir, serverCpus) };
  rows.push(...cryptoFloorRows(crypto.ec, crypto.rsa, floor, ec, rsa));
  const lean = {
    rsa: await leanRounds(() => pinnedEnroll("rsa-4096", o.n, o.concurrency, serverCpus, loadCpus), o.n, o.concurrency),
    ec: await leanRounds(() => pinnedEnroll("ec-p256", o.n * 2, o.concurrency, serverCpus, loadCpus), o.n * 2, o.concurrency),
  };
  rows.push(leanRow(lean.rsa), leanRow(lean.ec));
  const noChecks = (f: { load: LoadResult }) => ({ ...f, load: { ...f.load, check: undefined } });
  const leanData = (rounds: LeanRound[]) => rounds.map(({ fleetca, lean: l }) => ({ fleetca: noChecks(fleetca), lean: { ...noChecks(l), memoryOnly: noChecks(l.memoryOnly) } }));
  const data: Record<string, unknown> = { rsa, ec, floor: noChecks(floor), cryptoFloor: crypto, lean: { rsa: leanData(lean.rsa), ec: leanData(lean.ec) }, alternated: o.baseline ? { baseline: o.baseline, rsa: { base: r.base, runs: r.runs }, ec: { base: e.base, runs: e.runs } } : undefined };
  if (o.pending > 0) {
    const s = await pinnedSignAll(o.pending, serverCpus, o.baseline);
    rows.push(...s.rows);
    data.signAll = s.data;
  }
  removeScratchCas();
  return {
    scenario: "pinned",
    title: "the server on one core, the load generator on the other (taskset), against that core's signing limit",
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows,
    limits:
      "With the load generator on its own core, everything the server does per enrollment beyond the signature is " +
      "on the server's one core: TLS records and four HTTP requests, CSR parsing and verification, the TBS build, " +
      "the log lines, and the store's group-committed journal write (docs/performance.md has the profile). " +
      "The lean server rows bound it from below: a Node server doing the durable enrollment and nothing else, on the same core.",
    data,
  };
}

/** `--part sign-all`: the pinned `sign --all` alone (a quicker loop when working on it). */
async function pinnedSignAllOnly(o: PinnedOptions, cpus: string): Promise<ScenarioResult> {
  const s = await pinnedSignAll(o.pending, cpus, o.baseline);
  removeScratchCas();
  return {
    scenario: "pinned-sign-all",
    title: "`fleetca ca sign --all` on one core (taskset), against that core's signing limit",
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows: s.rows,
    limits: "Everything the CLI does beyond the signatures shares the one core with them: start-up, reading the pending requests, CSR checks, building each certificate and the store's batched commits (docs/performance.md).",
    data: { signAll: s.data },
  };
}
