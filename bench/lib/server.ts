/**
 * Starts `fleetca server` (the built CLI) as its own process, so its memory and CPU can be
 * read from /proc without the load generator's mixed in, and times how long it takes
 * from spawn to the first answered GET /status/v1/simple.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import https from "node:https";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { FLEETCA_BIN, TMP_DIR } from "./paths.js";

/**
 * Every simulated agent connects from 127.0.0.1, where a fleet comes from as many addresses
 * as it has hosts: the per-source flood protection (csr_rate) is off, or it would refuse all
 * but the first hundred submissions of a run.
 */
const BENCH_ENV = { FLEETCA_CSR_RATE: "0" };

export interface RunningServer {
  pid: number;
  url: string;
  /** Spawn to first 200 from /status/v1/simple. */
  startMs: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A port the kernel just handed out on 127.0.0.1 (closed again, then reused by the server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ServerOptions {
  cadir: string;
  autosign?: boolean;
  port?: number;
  /** Extra `fleetca server` flags. */
  args?: string[];
  /** Give up waiting for the first answer after this long. */
  timeoutMs?: number;
  logFile?: string;
  /** How to run the CLI: default the built bin/fleetca.js; tests pass a tsx entry instead. */
  entry?: string[];
  /** Extra environment (FLEETCA_* settings). */
  env?: NodeJS.ProcessEnv;
  /** Cores the server may run on (taskset -c), e.g. "0"; unset: any. */
  cpus?: string;
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const port = o.port ?? (await freePort());
  const url = `https://127.0.0.1:${port}`;
  const args = [
    ...(o.entry ?? [FLEETCA_BIN]), "server", "--cadir", o.cadir, "--bind", "127.0.0.1", "--port", String(port),
    "--autosign", String(o.autosign ?? true), "--certname", "ca.bench.test", ...(o.args ?? []),
  ];
  const logFile = o.logFile ?? join(TMP_DIR, `server-${port}.log`);
  mkdirSync(dirname(logFile), { recursive: true });
  const log = openSync(logFile, "w");
  const t0 = performance.now();
  // taskset execs node in place, so the child's pid is the server's (for /proc).
  const [file, argv] = o.cpus === undefined ? [process.execPath, args] : ["taskset", ["-c", o.cpus, process.execPath, ...args]];
  const child = spawn(file, argv, { stdio: ["ignore", log, log], env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...BENCH_ENV, ...serverKeyEnv(o.cadir), ...o.env } });
  closeSync(log);
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `exited with ${code ?? signal}`));
  const deadline = t0 + (o.timeoutMs ?? 30_000);
  for (;;) {
    if (exited) throw new Error(`fleetca server ${exited} before answering; see ${logFile}`);
    if (performance.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`fleetca server did not answer /status/v1/simple within ${o.timeoutMs ?? 30_000} ms`);
    }
    if ((await probe(url)) === 200) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const startMs = performance.now() - t0;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      // A server that does not stop on SIGTERM within 5 s is killed, so a run never hangs.
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    });
  return { pid: child.pid!, url, startMs, child, stop };
}

/**
 * The server's own key of the CA's type, as an operator sets key_type for an EC CA: with the
 * default (RSA-4096) a P-256 CA's server would pay an RSA-4096 signature (~4 ms here) in
 * every TLS handshake, more than a whole P-256 enrollment costs.
 */
function serverKeyEnv(cadir: string): NodeJS.ProcessEnv {
  let key;
  try {
    key = new X509Certificate(readFileSync(join(cadir, "ca_crt.pem"))).publicKey;
  } catch {
    return {}; // no CA yet: the server makes one with its settings
  }
  if (key.asymmetricKeyType !== "ec") return {};
  const curve = { prime256v1: "P-256", secp384r1: "P-384" }[key.asymmetricKeyDetails?.namedCurve ?? ""];
  return curve ? { FLEETCA_KEY_TYPE: "ec", FLEETCA_CURVE: curve } : {};
}

/** One GET /status/v1/simple on a fresh connection; the status code, or 0 if nothing answered. */
export function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(`${url}/status/v1/simple`, { rejectUnauthorized: false, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

export interface Memory {
  /** Resident set size now, kB. */
  rssKb: number;
  /** Peak resident set size since start (VmHWM), kB. */
  hwmKb: number;
}

export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssKb: kb("VmRSS"), hwmKb: kb("VmHWM") };
}

/** CPU time (user + system) the process has used, ms. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}
