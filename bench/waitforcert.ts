/**
 * Many agents waiting for their certificates against one server (`npm run bench:waitforcert`):
 *
 *   node --import tsx bench/waitforcert.ts [--agents 2000] [--minutes 5] [--waitforcert 60]
 *        [--ramp 20] [--out DIR]
 *
 * A fresh `fleetca server` (EC P-256 CA, autosign off, every other setting at its default) on
 * 127.0.0.1. Each simulated agent is its own machine (its own source address, 127.1.x.y) and
 * does what a waiting Puppet agent does: its first run fetches the CA certificate and the CRL
 * and submits its CSR; every `waitforcert` seconds after, on a new connection, it submits again
 * (400: already requested) and asks for its certificate (404 while unsigned). The agents start
 * spread over `ramp` seconds, so polls come in waves with quiet time between them.
 *
 * After `minutes`, the requests are signed with `fleetca ca sign --all` and every agent polls
 * once more: each must get its certificate (checked: its key, signed by the CA). Any other
 * answer, or a network error, is an error. Every second the server's RSS and CPU time are read
 * from /proc; the result (the RSS curve, CPU in the seconds with and without requests) goes to
 * bench/results/waitforcert.json. The run stops itself: a hard limit kills the server and
 * exits non-zero if anything hangs.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { agentIdentities, type AgentIdentity } from "./lib/agents.js";
import { checkCertificate, newCheck } from "./lib/check.js";
import { summarizeLatency } from "./lib/http.js";
import { LeanConnection } from "./lib/lean-http.js";
import { FLEETCA_BIN, RESULTS_DIR, TMP_DIR } from "./lib/paths.js";
import { machine, regenerateReadme, waitQuiet, writeResult, type ScenarioResult } from "./lib/results.js";
import { cpuMsOf, memoryOf, startServer } from "./lib/server.js";

const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "2000" },
    minutes: { type: "string", default: "5" },
    waitforcert: { type: "string", default: "60" },
    ramp: { type: "string", default: "20" },
    out: { type: "string" },
  },
});
const N = Number(values.agents);
const DURATION_MS = Number(values.minutes) * 60_000;
const WAIT_MS = Number(values.waitforcert) * 1000;
const RAMP_MS = Number(values.ramp) * 1000;
if (!(N > 0 && N <= 60_000 && DURATION_MS > 0 && WAIT_MS > 0 && RAMP_MS >= 0)) {
  console.error("usage: bench/waitforcert.ts [--agents 1..60000] [--minutes M] [--waitforcert S] [--ramp S] [--out DIR]");
  process.exit(2);
}
const full = N === 2000 && DURATION_MS === 300_000 && WAIT_MS === 60_000;
const OUT = values.out ?? (full ? RESULTS_DIR : join(TMP_DIR, "quick"));
const command = `npm run bench:waitforcert${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
const API = "/puppet-ca/v1";


/** One simulated machine per agent: 127.1.0.1, 127.1.0.2, ... (the whole of 127/8 is loopback). */
const addressOf = (i: number) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;

const cadir = join(TMP_DIR, "waitforcert", "ca");
rmSync(join(TMP_DIR, "waitforcert"), { recursive: true, force: true });
const agents = await agentIdentities(N, "ec", "wfc");
// The machine is shared: wait (up to 5 min) for the others' jobs to calm down, and say what it was.
const loadAverageAtStart = Math.round((await waitQuiet(2, 300_000)) * 100) / 100;

// Self-stopping, from here (after the wait for a quiet machine): whatever happens, nothing outlives this.
const HARD_LIMIT_MS = DURATION_MS + WAIT_MS + 180_000;
const running: { kill?: () => void } = {};
const hardStop = setTimeout(() => {
  console.error(`waitforcert bench: still running after ${HARD_LIMIT_MS / 1000} s; killing the server and giving up`);
  running.kill?.();
  process.exit(1);
}, HARD_LIMIT_MS);
hardStop.unref();
const server = await startServer({ cadir, autosign: false, env: { FLEETCA_KEY_TYPE: "ec" }, logFile: join(TMP_DIR, "waitforcert", "server.log"), timeoutMs: 60_000 });
running.kill = () => server.child.kill("SIGKILL");
const port = Number(new URL(server.url).port);
const caPem = await new LeanConnection({ host: "127.0.0.1", port }).request("GET", `${API}/certificate/ca`).then((r) => r.body);

const statuses: Record<string, number> = {};
/** The first errors of each kind of step (at most 5 each), and how many there were. */
const errors: string[] = [];
const errorKinds: Record<string, number> = {};
let errorCount = 0;
function fail(kind: string, message: string): void {
  errorCount++;
  errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  if (errorKinds[kind] <= 5) errors.push(message);
}
const latencies: number[] = [];
let inFlight = 0;
/** Requests sent or answered during the current second (for "CPU between polls"). */
let activeThisSecond = 0;
let cycles = 0;
/** Requests sent again on a new connection after the server closed an idle kept-alive one. */
let staleRetries = 0;

function expect(what: string, r: { status: number; body: string }, status: number, body?: RegExp): boolean {
  const key = `${what} ${r.status}`;
  statuses[key] = (statuses[key] ?? 0) + 1;
  if (r.status === status && (!body || body.test(r.body))) return true;
  fail(what, `${what}: expected ${status}, got ${r.status} ${r.body.slice(0, 160)}`);
  return false;
}

/** One run of a waiting agent on a new connection; returns its certificate once it has one. */
async function cycle(agent: AgentIdentity, i: number, first: boolean, signed: boolean): Promise<string | undefined> {
  const http = new LeanConnection({ host: "127.0.0.1", port, caPem, localAddress: addressOf(i), timeoutMs: 30_000 });
  let answered = 0;
  const call = async (method: "GET" | "PUT", path: string, body?: string) => {
    inFlight++;
    activeThisSecond++;
    try {
      let r;
      try {
        r = await http.request(method, path, body);
      } catch (e) {
        // A kept-alive connection the server closed as idle (keep_alive_timeout) just as the next
        // request went out: HTTP clients, Puppet's included, send it again on a new connection.
        if (answered === 0 || !/closed the connection|ECONNRESET/.test((e as Error).message)) throw e;
        staleRetries++;
        r = await http.request(method, path, body);
      }
      answered++;
      latencies.push(r.ms);
      return r;
    } finally {
      inFlight--;
      activeThisSecond++;
    }
  };
  try {
    if (first) {
      expect("GET certificate/ca", await call("GET", `${API}/certificate/ca`), 200);
      expect("GET certificate_revocation_list/ca", await call("GET", `${API}/certificate_revocation_list/ca`), 200);
    }
    const put = await call("PUT", `${API}/certificate_request/${agent.name}`, agent.csrPem);
    if (first) expect("PUT certificate_request (first)", put, 200);
    else expect("PUT certificate_request (again)", put, 400, signed ? /already has a signed certificate/ : /already has a requested certificate/);
    const cert = await call("GET", `${API}/certificate/${agent.name}`);
    if (signed) return expect("GET certificate/NAME (signed)", cert, 200) ? cert.body : undefined;
    expect("GET certificate/NAME (waiting)", cert, 404);
    return undefined;
  } catch (e) {
    fail(`${signed ? "after signing" : "waiting"}: ${(e as Error).message.replace(/^\S+ \S+: /, "")}`, `${agent.name}: ${(e as Error).message}`);
    return undefined;
  } finally {
    cycles++;
    http.close();
  }
}

// Sampling, once a second: the server's RSS and CPU, and whether any request moved.
interface Sample { t: number; rssKb: number; cpuPct: number; active: boolean }
const samples: Sample[] = [];
const t0 = performance.now();
let cpuBefore = cpuMsOf(server.pid);
let sampledAt = t0;
const sampler = setInterval(() => {
  const now = performance.now();
  const cpu = cpuMsOf(server.pid);
  samples.push({
    t: Math.round((now - t0) / 1000),
    rssKb: memoryOf(server.pid).rssKb,
    cpuPct: Math.round(((cpu - cpuBefore) / (now - sampledAt)) * 1000) / 10,
    active: activeThisSecond > 0 || inFlight > 0,
  });
  cpuBefore = cpu;
  sampledAt = now;
  activeThisSecond = 0;
}, 1000);

console.error(`waitforcert bench: ${N} agents, each polling every ${WAIT_MS / 1000} s for ${DURATION_MS / 60_000} min against ${server.url} (pid ${server.pid})`);
const progress = setInterval(() => {
  const last = samples.at(-1);
  console.error(`  ${Math.round((performance.now() - t0) / 1000)} s: ${cycles} polls, ${errorCount} errors, RSS ${Math.round((last?.rssKb ?? 0) / 1024)} MB`);
}, 30_000);

// Waiting: each agent polls on its own schedule until the time is up.
await Promise.all(
  agents.map(async (agent, i) => {
    let at = (RAMP_MS * i) / N;
    let first = true;
    while (at < DURATION_MS) {
      const delay = at - (performance.now() - t0);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      await cycle(agent, i, first, false);
      first = false;
      at += WAIT_MS;
    }
  }),
);
const waitedMs = performance.now() - t0;

// The operator signs everything; every agent's next poll must bring its certificate.
const tSign = performance.now();
execFileSync(process.execPath, [FLEETCA_BIN, "ca", "sign", "--all", "--cadir", cadir], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, FLEETCA_KEY_TYPE: "ec" } });
const signMs = performance.now() - tSign;
const ca = new X509Certificate(caPem);
const check = newCheck();
let received = 0;
await Promise.all(
  agents.map(async (agent, i) => {
    await new Promise((r) => setTimeout(r, (RAMP_MS * i) / N));
    const pem = await cycle(agent, i, false, true);
    if (pem && checkCertificate(pem, agent, ca, check)) received++;
    else if (pem) fail("certificate checks", `${agent.name}: its certificate failed the checks`);
  }),
);
clearInterval(sampler);
clearInterval(progress);
const hwmKb = memoryOf(server.pid).hwmKb;
await server.stop();
clearTimeout(hardStop);

const during = samples.filter((s) => s.t <= Math.ceil(waitedMs / 1000));
const quiet = during.filter((s) => !s.active);
const busy = during.filter((s) => s.active);
const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10);
const mb = (kb: number) => Math.round(kb / 102.4) / 10;
const rss = during.map((s) => s.rssKb);
const firstMinute = during.filter((s) => s.t <= 60).map((s) => s.rssKb);
const lastMinute = during.filter((s) => s.t > during.length - 60).map((s) => s.rssKb);
const polls = Object.entries(statuses).filter(([k]) => k.startsWith("GET certificate/NAME")).reduce((a, [, v]) => a + v, 0);

const result: ScenarioResult = {
  scenario: full ? "waitforcert" : `waitforcert-${N}x${DURATION_MS / 60_000}m`,
  title: `${N} agents waiting for their certificates (waitforcert ${WAIT_MS / 1000} s) for ${DURATION_MS / 60_000} min against one server`,
  command,
  when: new Date().toISOString(),
  machine: machine(),
  rows: [
    { measurement: "errors (unexpected answers or network errors)", fleetca: String(errorCount), target: "0", met: errorCount === 0 },
    { measurement: "agents that got their certificate at the poll after `ca sign --all`", fleetca: `${received} of ${N}`, target: `${N}`, met: received === N },
    { measurement: "server RSS: first minute max / last minute max / peak", fleetca: `${mb(Math.max(...firstMinute))} / ${mb(Math.max(...lastMinute))} / ${mb(hwmKb)} MB`, target: "bounded (last minute <= first minute + 32 MB)", met: Math.max(...lastMinute) <= Math.max(...firstMinute) + 32 * 1024 },
    { measurement: "server CPU in the seconds without requests (mean) / with requests (mean)", fleetca: `${mean(quiet.map((s) => s.cpuPct))}% / ${mean(busy.map((s) => s.cpuPct))}% of one core`, target: "near idle between polls (< 2%)", met: mean(quiet.map((s) => s.cpuPct)) < 2 },
  ],
  limits:
    `Every agent is its own source address on loopback (127.1.x.y) and opens a new TLS connection for each poll, as a waiting Puppet agent does; ` +
    `the polls come in waves (the agents start spread over ${RAMP_MS / 1000} s, then every ${WAIT_MS / 1000} s), each wave ${N} handshakes and ${2 * N} requests on a 2-core machine shared with the load generator. ` +
    `CPU is the server process's own (from /proc), per second; "without requests" are the seconds in which no request was sent or answered. ` +
    `The machine is shared with other jobs: the 1-minute load average was ${loadAverageAtStart} at the start (the run waits up to 5 minutes for it to drop below 2).`,
  data: {
    agents: N,
    waitforcertSeconds: WAIT_MS / 1000,
    minutes: DURATION_MS / 60_000,
    polls,
    cycles,
    staleRetries,
    loadAverageAtStart,
    statuses,
    errorKinds,
    errors,
    requestLatencyMs: summarizeLatency(latencies),
    signAllMs: Math.round(signMs),
    certificatesChecked: check,
    quietSeconds: quiet.length,
    busySeconds: busy.length,
    rssMb: { min: mb(Math.min(...rss)), max: mb(Math.max(...rss)), peakHwm: mb(hwmKb) },
    /** The RSS curve: one point every 5 s (MB), and CPU % per second, over the waiting phase. */
    rssCurveMb: during.filter((s) => s.t % 5 === 0).map((s) => [s.t, mb(s.rssKb)]),
    cpuPctPerSecond: during.map((s) => s.cpuPct),
  },
};
const file = writeResult(OUT, result);
if (OUT === RESULTS_DIR) regenerateReadme(OUT);
for (const row of result.rows) console.log(`${row.met ? "met    " : "NOT MET"}  ${row.measurement}: ${row.fleetca}`);
console.log(`written: ${file}`);
process.exit(result.rows.every((r) => r.met) ? 0 : 1);
