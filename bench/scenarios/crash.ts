/**
 * Crash mode (issue 15): `fleetca server` with autosign is SIGKILLed at a random moment
 * during enrollment, restarted (its start brings the files up to date from the commit
 * journal before it answers) and loaded again, R times. Afterwards, and after every restart:
 *  - every certificate a client received (GET certificate/NAME answered 200) is in
 *    signed/NAME.pem, byte for byte;
 *  - no serial is in two certificates (signed/ and every certificate received), none twice in inventory.txt;
 *  - Puppet's files agree: every signed/NAME.pem has its inventory line (serial and subject),
 *    `serial` is past every serial issued, no name has both a request and a certificate;
 *  - `fleetca ca check` passes, when the build has it.
 *
 * SIGKILL keeps the page cache, so this shows the journal's atomicity and recovery, not its
 * fsync; a lost page cache is acted out in test/store-file-journal.test.ts.
 *
 *   npm run bench -- --only crash              60 kills
 *   npm run bench -- --only crash --n 10       10 kills (results under results/tmp/quick)
 */
import { X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { agentIdentities, type AgentIdentity } from "../lib/agents.js";
import { fleetcaCli, freshCa } from "../lib/fleetca.js";
import { LeanConnection } from "../lib/lean-http.js";
import { fetchCaCertificate } from "../lib/load.js";
import { fmt, machine, type ScenarioResult } from "../lib/results.js";
import { startServer } from "../lib/server.js";

export interface CrashOptions {
  kills: number;
  concurrency: number;
  command: string;
}

const API = "/puppet-ca/v1";

interface Received {
  name: string;
  pem: string;
  serial: string;
}

/** Enrolls agents from `agents` (shared cursor) until `stop()` says so; certificates received go to `got`. */
async function enrollUntilKilled(url: string, caPem: string, agents: AgentIdentity[], cursor: { next: number }, concurrency: number, got: Received[], stopped: () => boolean): Promise<void> {
  const base = new URL(url);
  const slot = async () => {
    const http = new LeanConnection({ host: base.hostname, port: Number(base.port), caPem, timeoutMs: 5000 });
    try {
      while (!stopped() && cursor.next < agents.length) {
        const a = agents[cursor.next++]!;
        try {
          const sub = await http.request("PUT", `${API}/certificate_request/${a.name}`, a.csrPem);
          if (sub.status !== 200) continue;
          const c = await http.request("GET", `${API}/certificate/${a.name}`);
          if (c.status === 200) got.push({ name: a.name, pem: c.body, serial: new X509Certificate(c.body).serialNumber.toUpperCase().replace(/^0+/, "") });
        } catch {
          // the server died under this request: not acknowledged, nothing to check
        }
      }
    } finally {
      http.close();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, slot));
}

interface Problems {
  list: string[];
  add(p: string): void;
}

function checkStore(cadir: string, received: Received[], problems: Problems): { signed: number; inventory: number; temporaries: number } {
  const signedDir = join(cadir, "signed");
  const files = readdirSync(signedDir);
  const temporaries = files.filter((f) => f.startsWith(".fleetca-tmp-")).length + readdirSync(join(cadir, "requests")).filter((f) => f.startsWith(".fleetca-tmp-")).length;
  const signed = new Map<string, string>();
  const serialOwner = new Map<string, string>();
  for (const f of files.filter((x) => x.endsWith(".pem") && !x.startsWith("."))) {
    const name = f.slice(0, -4);
    const pem = readFileSync(join(signedDir, f), "utf8");
    let serial: string;
    try {
      serial = new X509Certificate(pem).serialNumber.toUpperCase().replace(/^0+/, "");
    } catch {
      problems.add(`signed/${f} does not parse`);
      continue;
    }
    signed.set(name, pem);
    const other = serialOwner.get(serial);
    if (other) problems.add(`serial ${serial} in signed/${other}.pem and signed/${f}`);
    serialOwner.set(serial, name);
  }
  for (const r of received) {
    const pem = signed.get(r.name);
    if (pem === undefined) problems.add(`${r.name}: received by its agent, missing from signed/`);
    else if (pem !== r.pem) problems.add(`${r.name}: signed/ holds another certificate than the one its agent received`);
  }
  const bySerial = new Map<string, string>();
  for (const r of received) {
    const other = bySerial.get(r.serial);
    if (other && other !== r.name) problems.add(`serial ${r.serial} received by ${other} and ${r.name}`);
    bySerial.set(r.serial, r.name);
  }
  const invSerials = new Map<string, string>();
  const lines = readFileSync(join(cadir, "inventory.txt"), "utf8").split("\n").filter(Boolean);
  for (const line of lines) {
    const m = /^0x([0-9A-Fa-f]+) \S+ \S+ \/CN=(.+)$/.exec(line);
    if (!m) {
      problems.add(`inventory.txt: unreadable line ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    const serial = m[1]!.toUpperCase().replace(/^0+/, "");
    if (invSerials.has(serial)) problems.add(`inventory.txt: serial ${serial} twice`);
    invSerials.set(serial, m[2]!);
  }
  let maxSerial = 0n;
  for (const [serial, name] of serialOwner) {
    if (invSerials.get(serial) !== name) problems.add(`signed/${name}.pem (serial ${serial}) has no matching inventory.txt line`);
    if (BigInt(`0x${serial}`) > maxSerial) maxSerial = BigInt(`0x${serial}`);
  }
  const counter = BigInt(`0x${readFileSync(join(cadir, "serial"), "utf8").trim()}`);
  if (counter <= maxSerial) problems.add(`serial file ${counter.toString(16)} is not past the highest serial issued ${maxSerial.toString(16)}`);
  for (const f of readdirSync(join(cadir, "requests"))) {
    if (f.endsWith(".pem") && signed.has(f.slice(0, -4))) problems.add(`${f.slice(0, -4)} has both a request and a certificate`);
  }
  return { signed: signed.size, inventory: lines.length, temporaries };
}

export async function crashScenario(o: CrashOptions): Promise<ScenarioResult> {
  const cadir = await freshCa("crash", "ec-p256");
  const agents = await agentIdentities(Math.max(2000, o.kills * 60), "ec", "crash");
  const cursor = { next: 0 };
  const received: Received[] = [];
  const problems: Problems = { list: [], add: (p) => void (problems.list.length < 50 && problems.list.push(p)) };
  const killedAt: number[] = [];
  const restartMs: number[] = [];
  let caPem: string | undefined;
  const t0 = performance.now();
  for (let round = 0; round < o.kills && cursor.next < agents.length; round++) {
    // A generous wait: on a machine busy with other jobs a start can take many seconds.
    const server = await startServer({ cadir, timeoutMs: 180_000 });
    restartMs.push(server.startMs);
    caPem ??= await fetchCaCertificate(server.url);
    // The store must be whole before the server answers: check what the last kill left.
    if (round > 0) checkStore(cadir, received, problems);
    let killed = false;
    const load = enrollUntilKilled(server.url, caPem, agents, cursor, o.concurrency, received, () => killed);
    const delay = 50 + Math.random() * 900;
    await new Promise((r) => setTimeout(r, delay));
    server.child.kill("SIGKILL");
    killed = true;
    killedAt.push(Math.round(delay));
    await new Promise((r) => server.child.once("exit", r));
    await load;
  }
  // One more start: it recovers from the last kill; then a clean stop.
  const last = await startServer({ cadir, timeoutMs: 180_000 });
  await last.stop();
  const totals = checkStore(cadir, received, problems);
  const tried = await fleetcaCli(["ca", "check", "--cadir", cadir]);
  const hasCheck = !/unknown command/.test(tried.stderr);
  const check = hasCheck ? tried : undefined;
  if (check && check.code !== 0) problems.add(`fleetca ca check: exit ${check.code}: ${(check.stdout + check.stderr).slice(0, 300)}`);
  const leftTemps = existsSync(join(cadir, "signed")) ? totals.temporaries : 0;
  const ok = problems.list.length === 0 && o.kills >= 50;
  return {
    scenario: "crash",
    title: "SIGKILL of the server at random moments during enrollment, restart, check",
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows: [
      {
        measurement: `kills during enrollment (random 50-950 ms into each run, C=${o.concurrency})`,
        fleetca: `${killedAt.length} kills, ${received.length.toLocaleString("en-US")} certificates received, ${totals.signed.toLocaleString("en-US")} in signed/`,
        target: "≥ 50 kills",
        met: killedAt.length >= 50,
      },
      {
        measurement: "received certificates in the store, serials unique, Puppet files consistent" + (hasCheck ? ", `fleetca ca check`" : ""),
        fleetca: problems.list.length === 0 ? "all checks passed after every restart" : `${problems.list.length} problem(s): ${problems.list.slice(0, 3).join("; ")}`,
        target: "none lost, no serial twice",
        met: ok,
      },
      { measurement: "restart to first answer after a kill (median, includes the journal recovery)", fleetca: fmt.ms([...restartMs].sort((a, b) => a - b)[restartMs.length >> 1] ?? Number.NaN), compare: `leftover temporary files after the last start: ${leftTemps}`, met: null },
    ],
    limits: "A check, not a speed: what matters is that nothing a client received is lost and nothing is issued twice.",
    data: { kills: killedAt.length, killedAtMs: killedAt, received: received.length, ...totals, problems: problems.list, caCheck: check ? { code: check.code, out: check.stdout.slice(-2000) } : "not in this build", wallMs: Math.round(performance.now() - t0) },
  };
}
