/**
 * The baseline: Puppet Server's CA (Debian's puppetserver 7.9.5, started by
 * bench/puppetserver.sh on 127.0.0.1:8140) under the same load generator, for scenarios
 * 1 to 3 where they apply: enrollment with autosign (RSA-4096 CA, Puppet's default),
 * `puppetserver ca sign --all` and `list --all`, revoke cost at 0 and N entries, plus its
 * memory and start time. Run only with --puppetserver (it installs the package first).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { agentIdentities } from "../lib/agents.js";
import { median } from "../lib/fleetca.js";
import { pool } from "../lib/http.js";
import { signingLimit } from "../lib/limit.js";
import { runLoad } from "../lib/load.js";
import { BENCH_DIR } from "../lib/paths.js";
import { fmt, machine, type Row, type ScenarioResult } from "../lib/results.js";
import { memoryOf } from "../lib/server.js";

export interface PuppetServerOptions {
  n: number;
  concurrency: number;
  /** Pending requests for `sign --all`. */
  pending: number;
  command: string;
}

const URL_PS = "https://127.0.0.1:8140";
const CADIR = "/etc/puppet/puppetserver/ca";
const SSLDIR = "/var/lib/puppet/ssl";

function script(...args: string[]): { out: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync("bash", [join(BENCH_DIR, "puppetserver.sh"), ...args], { encoding: "utf8", env: { ...process.env, KEEP_CA: process.env.KEEP_CA ?? "0" } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`bench/puppetserver.sh ${args.join(" ")} failed (${r.status}): ${r.stderr || r.stdout}`);
  return { out: r.stdout, ms };
}

function startPs(autosign: boolean, keepCa: boolean): { pid: number; startMs: number } {
  process.env.KEEP_CA = keepCa ? "1" : "0";
  const { out } = script("start", String(autosign));
  const m = /started in ([\d.]+) s, pid (\d+)/.exec(out);
  if (!m) throw new Error(`unexpected output from puppetserver.sh start: ${out}`);
  return { startMs: Number(m[1]) * 1000, pid: javaPid(Number(m[2])) };
}

/** The JVM under setpriv/bash: the newest descendant named java. */
function javaPid(parent: number): number {
  const r = spawnSync("pgrep", ["-n", "-f", "puppetserver.jar"], { encoding: "utf8" });
  const pid = Number(r.stdout.trim());
  return pid > 0 ? pid : parent;
}

function timedCa(...args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync("puppetserver", ["ca", ...args], { encoding: "utf8" });
  // sign --all exits 1 when any request was refused; the time is what matters here.
  if (r.status !== 0 && r.status !== 1) throw new Error(`puppetserver ca ${args.join(" ")}: ${r.stderr}`);
  return performance.now() - t0;
}

export async function puppetServerScenarios(o: PuppetServerOptions): Promise<ScenarioResult[]> {
  script("install");
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  try {
    // 1. enrollment with autosign, fresh CA.
    let ps = startPs(true, false);
    data.firstBootMs = Math.round(ps.startMs);
    await new Promise((r) => setTimeout(r, 5000));
    const idle = memoryOf(ps.pid);
    const limit = await signingLimit("rsa-4096", readFileSync(join(CADIR, "ca_key.pem"), "utf8"));
    const agents = await agentIdentities(o.n, "ec", "psenroll");
    const load = await runLoad({ url: URL_PS, agents, concurrency: o.concurrency });
    const afterLoad = memoryOf(ps.pid);
    Object.assign(data, { limit, load, idle, afterLoad });
    rows.push(
      { measurement: `enrollments/s with autosign, N=${o.n.toLocaleString("en-US")}, C=${o.concurrency} (RSA-4096 CA)`, fleetca: "", compare: `Puppet Server: ${fmt.rate(load.perSecond)} = ${fmt.pct(load.perSecond / limit.limitPerSecond)} of the signing limit ${fmt.rate(limit.limitPerSecond)}`, met: null },
      { measurement: "Puppet Server enrollment latency p50 / p99; certificates checked", fleetca: "", compare: `${fmt.ms(load.latencyMs.p50)} / ${fmt.ms(load.latencyMs.p99)}; ${load.check.signatureOk}/${load.n}, openssl ${load.openssl.ok}/${load.openssl.sample}`, met: null },
      { measurement: "Puppet Server RSS idle / peak (VmHWM) during enrollment", fleetca: "", compare: `${fmt.mb(idle.rssKb)} / ${fmt.mb(afterLoad.hwmKb)}`, met: null },
    );

    // 3. revoke cost at 0 entries and after revoking the N enrolled certificates.
    const client = { certPem: readFileSync(join(SSLDIR, "certs", "localhost.pem"), "utf8"), keyPem: readFileSync(join(SSLDIR, "private_keys", "localhost.pem"), "utf8") };
    const admin = pool(URL_PS, 8, readFileSync(join(SSLDIR, "certs", "ca.pem"), "utf8"), 120_000, client);
    const revoke = async (name: string) => {
      const r = await admin.request("PUT", `/puppet-ca/v1/certificate_status/${name}`, JSON.stringify({ desired_state: "revoked" }), { "Content-Type": "application/json", Accept: "application/json" });
      if (r.status !== 204 && r.status !== 200) throw new Error(`revoke ${name}: ${r.status} ${r.body.slice(0, 200)}`);
      return r.ms;
    };
    const samples = 7;
    const at0: number[] = [];
    for (let i = 0; i < samples; i++) at0.push(await revoke(agents[i]!.name));
    const bulk = agents.slice(samples, agents.length - samples);
    const tBulk = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < bulk.length) await revoke(bulk[next++]!.name);
    }));
    const bulkMs = performance.now() - tBulk;
    const atN: number[] = [];
    for (const a of agents.slice(agents.length - samples)) atN.push(await revoke(a.name));
    const crlBytes = readFileSync(join(CADIR, "ca_crl.pem")).length;
    admin.close();
    const r0 = median(at0);
    const rN = median(atN);
    Object.assign(data, { revoke: { at0, atN, entries: agents.length - samples, bulkMs: Math.round(bulkMs), crlBytes } });
    rows.push({
      measurement: `one revoke (HTTP certificate_status) at 0 / ${(agents.length - samples).toLocaleString("en-US")} entries`,
      fleetca: "",
      compare: `Puppet Server: ${fmt.ms(r0)} / ${fmt.ms(rN)} (×${(rN / r0).toFixed(2)}); CRL ${fmt.bytes(crlBytes)}; bulk revokes at 8 in flight ${fmt.rate((bulk.length / bulkMs) * 1000)}`,
      met: null,
    });

    // 2. sign --all of pending requests, then list --all.
    ps = startPs(false, true);
    const restartMs = ps.startMs;
    const pending = await agentIdentities(o.pending, "ec", "pspending");
    const sub = await runLoad({ url: URL_PS, agents: pending, concurrency: o.concurrency, submitOnly: true });
    const signMs = timedCa("sign", "--all");
    const listMs = [0, 1, 2].map(() => timedCa("list", "--all"));
    Object.assign(data, { pending: o.pending, restartMs: Math.round(restartMs), submit: { perSecond: sub.perSecond, failed: sub.failed }, signAllMs: Math.round(signMs), listMs: listMs.map(Math.round) });
    rows.push(
      { measurement: `\`puppetserver ca sign --all\` of ${o.pending.toLocaleString("en-US")}`, fleetca: "", compare: `Puppet Server: ${fmt.ms(signMs)}, ${fmt.rate((o.pending / signMs) * 1000)} (${fmt.pct((o.pending / signMs) * 1000 / limit.limitPerSecond)} of the limit)`, met: null },
      { measurement: `\`puppetserver ca list --all\` of ${(o.n + o.pending + 1).toLocaleString("en-US")} (median of 3)`, fleetca: "", compare: `Puppet Server: ${fmt.ms(median(listMs))}`, met: null },
      { measurement: "Puppet Server start to ready (restart file = 1): first boot / restart", fleetca: "", compare: `${fmt.ms(Number(data.firstBootMs))} / ${fmt.ms(restartMs)}`, met: null },
    );
  } finally {
    script("stop");
  }
  return [
    {
      scenario: "puppetserver",
      title: "Puppet Server 7.9.5 (Debian) under the same load generator",
      command: o.command,
      when: new Date().toISOString(),
      machine: machine(),
      rows,
      limits:
        "Puppet Server's CA signs inside JRuby/Clojure with a lock around the whole request and writes the CRL in full " +
        "on every revoke, so its throughput is far below the signing limit and its revoke cost grows with the CRL. The " +
        "JVM takes tens of seconds to start and several hundred MB at rest.",
      data,
    },
  ];
}
