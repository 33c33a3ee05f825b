/**
 * The lean enrollment server (lean-server-child.ts) in its own process, pinned like the real
 * server: its CPU per enrollment is the least any Node CA server can spend on this core for
 * a durable enrollment with Puppet's files, fleetca's pki code and nothing else.
 */
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { startChildServer } from "./child-server.js";

export interface LeanServer {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

const child = fileURLToPath(new URL("./lean-server-child.ts", import.meta.url));

/** `cadir`: a CA made by the run (its key unencrypted, ssl/ beside it); the lean server writes under `<cadir>/../lean`. */
export async function startLeanServer(cadir: string, cpus: string, memoryOnly = false): Promise<LeanServer> {
  const out = join(cadir, "..", "lean");
  mkdirSync(join(out, "signed"), { recursive: true });
  const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", LEAN_MEMORY_ONLY: memoryOnly ? "1" : "0" };
  const s = await startChildServer("taskset", ["-c", cpus, process.execPath, "--import", "tsx", child, cadir, out], env, "the lean server");
  return { pid: s.pid, url: `https://127.0.0.1:${s.port}`, stop: s.stop };
}
