/**
 * Driving fleetca the way an operator does (the built CLI as a separate process) and the
 * way the server does (the CertificateAuthority in this process, over the same FileStore).
 */
import { localPrincipal } from "../../src/ca/principal.js";
import { spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority, type CaSettings } from "../../src/ca/authority.js";
import { FileStore } from "../../src/store/file/index.js";
import { FLEETCA_BIN, TMP_DIR } from "./paths.js";

export type CaKeyType = "rsa-4096" | "ec-p256";

export interface CliRun {
  code: number;
  ms: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `fleetca ARGS` as a child process and times it from spawn to exit. `entry` is how to
 * run the CLI: the built bin/fleetca.js by default; tests pass a tsx entry instead.
 */
export function fleetcaCli(args: string[], env: NodeJS.ProcessEnv = {}, entry: string[] = [FLEETCA_BIN], cpus?: string, onSpawn?: (pid: number) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const argv = [...entry, ...args];
    // `cpus`: the cores it may use (taskset -c), for the pinned measurements.
    const child = spawn(cpus === undefined ? process.execPath : "taskset", cpus === undefined ? argv : ["-c", cpus, process.execPath, ...argv], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    // taskset execs the command: the pid is the CLI's.
    if (child.pid !== undefined) onSpawn?.(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code: code ?? -1, ms: performance.now() - t0, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}

/** A fresh CA directory under bench/results/tmp/ made by `fleetca ca setup`. */
export async function freshCa(label: string, keyType: CaKeyType, entry?: string[]): Promise<string> {
  // <label>/ca, so the server's ssldir (`ssl` beside the cadir) is per CA too.
  const home = join(TMP_DIR, "ca", label);
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });
  const cadir = join(home, "ca");
  const keyArgs = keyType === "rsa-4096" ? ["--key-type", "rsa", "--keylength", "4096"] : ["--key-type", "ec", "--curve", "P-256"];
  const r = await fleetcaCli(["ca", "setup", "--cadir", cadir, "--ca-name", `Bench CA ${label}`, ...keyArgs], {}, entry);
  if (r.code !== 0) throw new Error(`fleetca ca setup failed (${r.code}): ${r.stderr}`);
  return cadir;
}

let scratchRuns = 0;

/**
 * freshCa in a directory no earlier run used; removeScratchCas() deletes them all once the
 * measurements are done. Deleting the last run's thousands of files right before a run made
 * the run measure ext4 instead of fleetca: on a file system without a journal (this VM's), a
 * new inode is searched for past every inode freed in the last minute (five while its inode
 * table block is unwritten), reading the inode table for each (`recently_deleted` in the
 * kernel's stack). A profile taken right after such a deletion showed 1.1 ms of `openat` per
 * RSA-4096 enrollment, against 0.06 ms per P-256 enrollment in a profile with none.
 */
export function scratchCa(label: string, keyType: CaKeyType, entry?: string[]): Promise<string> {
  return freshCa(join("scratch", `${label}-${process.pid}-${++scratchRuns}`), keyType, entry);
}

/** Removes every scratchCa directory (also those an interrupted run left). Call after the timed parts. */
export function removeScratchCas(): void {
  rmSync(join(TMP_DIR, "ca", "scratch"), { recursive: true, force: true });
}

export const BENCH_SETTINGS: CaSettings = {
  caTtl: 5 * 365 * 86_400,
  allowSubjectAltNames: false,
  allowAuthorizationExtensions: false,
  allowDuplicateCerts: false,
};

/** The CA in this process, as the server holds it. */
export function inProcessCa(cadir: string): CertificateAuthority {
  return new CertificateAuthority({ store: new FileStore(cadir), settings: BENCH_SETTINGS });
}

export const BENCH_ACTOR = localPrincipal("bench", "localhost");

/** Submits every agent's CSR to `ca` (autosign off: they stay pending), 8 at a time. */
export async function submitPending(ca: CertificateAuthority, agents: readonly { name: string; csrPem: string }[]): Promise<void> {
  let next = 0;
  const submit = async () => {
    while (next < agents.length) {
      const a = agents[next++]!;
      await ca.submitRequest(a.name, a.csrPem, BENCH_ACTOR);
    }
  };
  await Promise.all(Array.from({ length: 8 }, submit));
}

/** Median of numbers (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
