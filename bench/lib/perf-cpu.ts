/**
 * A CPU profile that counts CPU, not wall time: `perf record -e cpu-clock` samples a thread
 * only while it runs on a core, every thread of the process (the event loop, the libuv pool,
 * V8's compiler and GC threads) and the kernel on its behalf. node --cpu-prof samples the
 * main thread's wall clock instead: on a shared machine it charges to whatever JavaScript
 * was on the stack the time the thread spent waiting for a core or in the pool, which made
 * fdatasync and log writes look like a fifth of the server's work.
 *
 * Each sample is put in one bucket by its stack (node runs with --perf-basic-prof so
 * JavaScript frames have names): V8's optimizing compiler, the garbage collector, the
 * kernel by system call, TLS, crypto arithmetic, else the first JavaScript frame's module.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";

export interface PerfRecording {
  stop(): Promise<void>;
}

/** Starts `perf record` on `pid` (all its threads) into `file`. */
export async function perfRecord(pid: number, file: string): Promise<PerfRecording> {
  const child: ChildProcess = spawn("perf", ["record", "-q", "-F", "999", "-e", "cpu-clock", "-g", "-p", String(pid), "-o", file], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise((r) => setTimeout(r, 500)); // perf attaches to every thread before the timed part
  return {
    stop: async () => {
      child.kill("SIGINT");
      await exited;
    },
  };
}

const COMPILER = /OptimizingCompileDispatcher|v8::internal::compiler::|v8::internal::Compiler::|v8::internal::baseline::|maglev/;
const GC = /v8::internal::(Heap::|Scavenge|MarkCompact|ConcurrentMarking|MinorMarkSweep|Sweeper|GCTracer|IncrementalMarking)/;
const SSL = /\b(SSL_\w+|ssl3_\w+|ssl_\w+|tls13?_\w+|tls_\w+)\+/;
const CRYPTO = /\b(\w*bn_\w+|\w*(?:mulx4x|sqrx8x|postx4x)\w*|BN_\w+|\w*ecp_nistz\w+|ecdsa\w*|ECDSA\w*|ossl_ec\w*|EC_\w+|\w*sha256\w*|\w*sha512\w*|SHA\d+\w*|RSA_\w+|rsa_\w+|aesni\w*|\w*gcm\w*)\+/;

function bucketOf(frames: string[]): string {
  const all = frames.join("\n");
  if (COMPILER.test(all)) return "V8 optimizing compiler (JIT)";
  if (GC.test(all)) return "V8 garbage collector";
  const leaf = frames[0] ?? "";
  if (leaf.includes("[kernel.kallsyms]")) {
    const sys = /__x64_sys_(\w+)/.exec(all);
    return sys ? `kernel: ${sys[1]}` : "kernel: scheduling, interrupts, page faults";
  }
  // Up from the leaf to the first JavaScript or node/V8 C++ frame: TLS or crypto arithmetic below it.
  for (const f of frames) {
    if (f.includes(" JS:") || /\b(node::|v8::)/.test(f)) break;
    if (SSL.test(f)) return "TLS (records, handshakes)";
  }
  if (CRYPTO.test(leaf)) return "crypto arithmetic (signatures, CSR verification, hashes)";
  const js = frames.find((f) => f.includes(" JS:"));
  if (js) {
    // "JS:*name url:line:col+0xoffset (map file)"; the name may be empty.
    const url = (/JS:\S*\s+(\S+)/.exec(js)?.[1] ?? "").replace(/\+0x[0-9a-f]+$/, "").replace(/:\d+:\d+$/, "");
    if (url.includes("node_modules/")) return `JS: ${url.split("node_modules/")[1]!.split("/")[0]}`;
    if (url.includes("/dist/")) return `JS: fleetca ${url.split("/dist/")[1]!.split("/").slice(0, 2).join("/").replace(/\.js$/, "")}`;
    if (url.startsWith("node:")) return `JS: ${url.split("/").slice(0, 2).join("/")}`;
    return "JS: other";
  }
  return "node and V8 runtime (C++), libc";
}

/** Buckets of `perf script` samples, largest first, as shares of all samples. */
export function perfBuckets(file: string): { bucket: string; share: number }[] {
  const out = spawnSync("perf", ["script", "-i", file], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (out.status !== 0) throw new Error(`perf script failed: ${out.stderr.slice(0, 500)}`);
  const counts = new Map<string, number>();
  let total = 0;
  for (const sample of out.stdout.split("\n\n")) {
    const lines = sample.split("\n").filter((l) => l.trim() !== "");
    if (lines.length < 2) continue;
    const b = bucketOf(lines.slice(1).map((l) => l.trim()));
    counts.set(b, (counts.get(b) ?? 0) + 1);
    total++;
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([bucket, c]) => ({ bucket, share: c / Math.max(1, total) }));
}
