/**
 * A real `fleetca server` as a child process on 127.0.0.1 for the agent's integration tests: its own cadir,
 * an EC CA (fast), a server certificate valid for 127.0.0.1, and autosign as asked.
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");
const ENTRY = path.join(ROOT, "test/helpers/cli-entry.ts");

export interface ServerProcess {
  port: number;
  cadir: string;
  /** Everything it printed to stderr (the startup summary). */
  stderr(): string;
  stop(): Promise<void>;
}

/** A port nothing listens on right now (the server's --port must be 1..65535, so 0 cannot be passed). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** `port` reuses a stopped server's port (a regenerated CA behind the same address). */
export async function startServer(cadir: string, autosign: boolean, port?: number): Promise<ServerProcess> {
  port ??= await freePort();
  const args = ["server", "--cadir", cadir, "--bind", "127.0.0.1", "--port", String(port), "--certname", "localhost", "--dns-alt-names", "localhost,IP:127.0.0.1", "--autosign", String(autosign)];
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", FLEETCA_KEY_TYPE: "ec", FLEETCA_LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fleetca server did not start within 30s:\n${err}`)), 30_000);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes("Listening on")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`fleetca server exited with ${code}:\n${err}`));
    });
  });
  return {
    port,
    cadir,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
