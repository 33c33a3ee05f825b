/**
 * A throwaway server in a child process that prints its port on its first line of stdout:
 * the benchmarks' reference servers (the HTTP floor, the static OCSP responder).
 */
import { spawn } from "node:child_process";

export interface ChildServer {
  pid: number;
  port: number;
  /** SIGTERM, resolved once it has exited. */
  stop(): Promise<void>;
}

/** Spawns `file args` with `env`; resolves when it prints its port, rejects if it exits first. */
export function startChildServer(file: string, args: string[], env: NodeJS.ProcessEnv, label: string): Promise<ChildServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "inherit"], env });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`${label} exited with ${code}`)));
    child.stdout.once("data", (d: Buffer) => {
      const stop = () =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.removeAllListeners("exit");
          child.once("exit", () => done());
          child.kill("SIGTERM");
        });
      resolve({ pid: child.pid!, port: Number(d.toString().trim()), stop });
    });
  });
}
