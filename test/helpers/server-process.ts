/**
 * `fleetca server` as a child process (through tsx: no build needed) on 127.0.0.1 and a
 * free port, for tests that need the real command: first boot, signals, a real Puppet agent.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** A port the kernel just had free. (It could be taken again before the server binds: unlikely on a test machine.) */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  dir: string;
  cadir: string;
  ssldir: string;
  configFile: string;
  stderr(): string;
  /** Parsed stdout lines; a line that is not JSON fails the test that reads it. */
  logs(): Record<string, unknown>[];
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Milliseconds from spawn to the "listening" log line. */
  startupMs: number;
}

export interface StartOptions {
  dir: string;
  /** YAML text of the config file (Puppet setting names). */
  config?: string;
  certname?: string;
  /** Extra flags. */
  args?: string[];
  /** Extra environment; a variable set to undefined is removed (FLEETCA_CA_PASSPHRASE, by default the test process's). */
  env?: Record<string, string | undefined>;
}

/** The environment of a fleetca child process: PATH, HOME, the test passphrase of PostgreSQL stores (pg-server.ts), and `extra`. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", FLEETCA_CA_PASSPHRASE: process.env.FLEETCA_CA_PASSPHRASE, ...extra };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

export async function startServer(o: StartOptions): Promise<ServerProcess> {
  fs.mkdirSync(o.dir, { recursive: true });
  const port = await freePort();
  const cadir = path.join(o.dir, "ca");
  const configFile = path.join(o.dir, "fleetca.yaml");
  fs.writeFileSync(configFile, o.config ?? "key_type: ec\n");
  const args = [
    "--import", "tsx", path.join(ROOT, "test/helpers/cli-entry.ts"), "server",
    "--config", configFile, "--cadir", cadir, "--bind", "127.0.0.1", "--port", String(port), "--certname", o.certname ?? "localhost",
    ...(o.args ?? []),
  ];
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv(o.env), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const logs = () =>
    out
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitForLog = async (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = logs().find(pred);
      if (hit) return hit;
      if (child.exitCode !== null) throw new Error(`fleetca server exited (${child.exitCode}):\n${err}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for a log line; stderr:\n${err}\nstdout:\n${out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  try {
    await waitForLog((l) => l.msg === "listening");
  } catch (e) {
    // Never leave a half-started server behind: it would keep the test process alive.
    child.kill("SIGKILL");
    throw e;
  }
  return {
    child,
    port,
    url: `https://127.0.0.1:${port}`,
    dir: o.dir,
    cadir,
    ssldir: path.join(o.dir, "ssl"),
    configFile,
    stderr: () => err,
    logs,
    waitForLog,
    startupMs: Date.now() - started,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
