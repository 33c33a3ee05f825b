/**
 * Issue 11, "At scale": `fleetca ca regenerate` on a CA holding N certificates (100,000 by
 * default), as an operator runs it: the built CLI in its own process. The CA is a fixture
 * written by bench/lib/fixture.ts (real certificates of a P-256 CA, the index in place).
 *
 * Phases are timed from what the command prints, as it prints it (stdout and stderr are pipes,
 * written synchronously on Linux): the plan (the listing of every node) ends when the plan is
 * printed, the backup when "Backup written and verified" appears, the regeneration (new CA,
 * every node recorded for tracking, server certificate) when "Tracking N node(s)" appears,
 * then the process exits. The tracking list is then read as the console reads it
 * (`ca regenerate --status --format json`), in a second process. Peak RSS is each process's
 * VmHWM from /proc, polled every 20 ms until it exits (VmHWM only grows, so the last read is
 * within 20 ms of the end).
 *
 *   npm run bench -- --only regenerate              100,000 certificates
 *   npm run bench -- --only regenerate --n 10000    a quick look (results under bench/results/tmp/quick)
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { agentIdentities } from "../lib/agents.js";
import { growFixture } from "../lib/fixture.js";
import { freshCa } from "../lib/fleetca.js";
import { FLEETCA_BIN } from "../lib/paths.js";
import { fmt, machine, type ScenarioResult } from "../lib/results.js";
import { cpuMsOf } from "../lib/server.js";

export interface RegenerateBenchOptions {
  certificates: number;
  command: string;
}

interface Timed {
  code: number;
  ms: number;
  /** ms since spawn at which the first line matching each pattern appeared. */
  marks: Record<string, number>;
  hwmKb: number;
  /** CPU time (user + system) of the process, ms: what the figure is on a machine others share. */
  cpuMs: number;
  stdout: string;
  stderr: string;
}

function cpuOf(pid: number): number | undefined {
  try {
    return cpuMsOf(pid);
  } catch {
    return undefined;
  }
}

function hwmOf(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the built CLI, noting when lines matching `marks` appear and polling its peak RSS. */
function runTimed(args: string[], marks: Record<string, RegExp>): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [FLEETCA_BIN, ...args], { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root" }, stdio: ["ignore", "pipe", "pipe"] });
    const seen: Record<string, number> = {};
    let stdout = "";
    let stderr = "";
    let hwmKb = 0;
    let cpuMs = 0;
    const poll = setInterval(() => {
      hwmKb = Math.max(hwmKb, hwmOf(child.pid!) ?? 0);
      cpuMs = Math.max(cpuMs, cpuOf(child.pid!) ?? 0);
    }, 20);
    const watch = (text: string) => {
      const at = performance.now() - t0;
      for (const [k, re] of Object.entries(marks)) if (seen[k] === undefined && re.test(text)) seen[k] = at;
    };
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      watch(stdout);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      watch(stderr);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(poll);
      resolve({ code: code ?? -1, ms: performance.now() - t0, marks: seen, hwmKb, cpuMs, stdout, stderr });
    });
  });
}

export async function regenerateScenario(o: RegenerateBenchOptions): Promise<ScenarioResult> {
  const cadir = await freshCa("regenerate", "ec-p256");
  const home = dirname(cadir);
  const [agent] = await agentIdentities(1, "ec", "regenkey");
  const f0 = performance.now();
  await growFixture(cadir, 0, o.certificates, agent!, (done) => console.log(`  fixture: ${done.toLocaleString("en-US")} certificates`));
  const fixtureMs = performance.now() - f0;

  const backup = join(home, "before.fleetca");
  const run = await runTimed(
    ["ca", "regenerate", "--cadir", cadir, "--certname", "ca.bench.test", "--infra", "puppetdb.bench.test,console.bench.test", "--out", join(home, "infra"), "--backup-out", backup],
    { plan: /^ {2}4\. track /m, backup: /^Backup written and verified/m, regenerated: /^Tracking \d+ node/m },
  );
  if (run.code !== 0) throw new Error(`fleetca ca regenerate failed (${run.code}): ${run.stderr.slice(0, 2000)}`);
  const tracked = Number(/^Tracking (\d+) node/m.exec(run.stdout)?.[1] ?? Number.NaN);
  const status = await runTimed(["ca", "regenerate", "--status", "--format", "json", "--cadir", cadir], {});
  if (status.code !== 0) throw new Error(`fleetca ca regenerate --status failed: ${status.stderr.slice(0, 1000)}`);
  const listed = JSON.parse(status.stdout) as { total: number; remaining: number; nodes: unknown[] };

  const m = run.marks;
  const planMs = m.plan ?? Number.NaN;
  const backupMs = (m.backup ?? Number.NaN) - planMs;
  const regenerateMs = (m.regenerated ?? Number.NaN) - (m.backup ?? Number.NaN);
  const total = run.ms + status.ms;
  const archiveBytes = statSync(backup).size;
  // Every certificate of the fixture is a node to track (the server's own is issued again at once).
  const complete = tracked >= o.certificates && listed.remaining >= o.certificates && listed.nodes.length === listed.remaining;
  rmSync(home, { recursive: true, force: true });
  const n = o.certificates.toLocaleString("en-US");
  return {
    scenario: "regenerate",
    title: `\`fleetca ca regenerate\` of a CA holding ${n} certificates`,
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows: [
      { measurement: `regenerate with ${n} certificates: backup + regeneration + tracking list (two CLI processes)`, fleetca: fmt.ms(total), target: "< 60 s", met: total < 60_000 && complete },
      { measurement: "plan (every node listed from the index)", fleetca: fmt.ms(planMs), met: null },
      { measurement: `backup written, read back and verified (${fmt.bytes(archiveBytes)})`, fleetca: fmt.ms(backupMs), met: null },
      { measurement: `new CA, server certificate, ${tracked.toLocaleString("en-US")} nodes recorded for tracking`, fleetca: fmt.ms(regenerateMs), met: null },
      { measurement: `tracking list read (\`--status --format json\`, ${listed.remaining.toLocaleString("en-US")} nodes)`, fleetca: fmt.ms(status.ms), met: complete },
      { measurement: "peak RSS: regenerate / status (VmHWM)", fleetca: `${fmt.mb(run.hwmKb)} / ${fmt.mb(status.hwmKb)}`, met: null },
      { measurement: "CPU time (user + system): regenerate / status", fleetca: `${fmt.ms(run.cpuMs)} / ${fmt.ms(status.cpuMs)}`, met: null },
    ],
    limits:
      "The backup reads and writes every file of the CA directory (about 1.1 kB of PEM per certificate), then reads the archive " +
      "back to verify it; the plan and the tracking record come from the list index, not from parsing PEM files. The old " +
      "certificates are removed (compromise mode). The fixture is written without fsync and synced before the run.",
    data: {
      certificates: o.certificates, fixtureMs: Math.round(fixtureMs), totalMs: Math.round(total), regenerateProcessMs: Math.round(run.ms),
      planMs: Math.round(planMs), backupMs: Math.round(backupMs), regenerateMs: Math.round(regenerateMs), exitAfterMs: Math.round(run.ms - (m.regenerated ?? Number.NaN)),
      statusMs: Math.round(status.ms), hwmKb: { regenerate: run.hwmKb, status: status.hwmKb }, cpuMs: { regenerate: run.cpuMs, status: status.cpuMs }, archiveBytes, tracked, listed: listed.remaining,
    },
  };
}
