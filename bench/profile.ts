/**
 * A CPU profile of the server under the pinned load (server on core 0, load on core 1):
 *
 *   npm run build && node --import tsx bench/profile.ts [ec-p256|rsa-4096] [N]
 *   npm run build && node --import tsx bench/profile.ts [ec-p256|rsa-4096] [N] --perf
 *
 * Writes the server's .cpuprofile (node --cpu-prof) under bench/results/tmp/profile/ and
 * prints where its time went: by module and by function (self time). That profile samples
 * the main thread's wall clock; with --perf the server runs under `perf record -e cpu-clock`
 * instead (lib/perf-cpu.ts), which counts the CPU of every thread and of the kernel, and
 * prints it by bucket in ms per enrollment: the one to read on a machine others are using.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { agentIdentities } from "./lib/agents.js";
import { removeScratchCas, scratchCa, type CaKeyType } from "./lib/fleetca.js";
import { runLoad, warmupFor } from "./lib/load.js";
import { FLEETCA_BIN, TMP_DIR } from "./lib/paths.js";
import { perfBuckets, perfRecord } from "./lib/perf-cpu.js";
import { pinSelf } from "./lib/pin.js";
import { cpuMsOf, startServer } from "./lib/server.js";

const withPerf = process.argv.includes("--perf");
const [keyArg, nArg] = process.argv.slice(2).filter((a) => a !== "--perf");
const keyType = (keyArg ?? "ec-p256") as CaKeyType;
const n = Number(nArg ?? 1000);
const dir = join(TMP_DIR, "profile");
rmSync(dir, { recursive: true, force: true });
const cadir = await scratchCa(`profile-${keyType}`, keyType);
const agents = await agentIdentities(n, "ec", "enroll");
const server = await startServer({ cadir, cpus: "0", timeoutMs: 120_000, entry: withPerf ? ["--perf-basic-prof", FLEETCA_BIN] : ["--cpu-prof", "--cpu-prof-dir", dir, FLEETCA_BIN] });
pinSelf("1");
await runLoad({ url: server.url, agents: await agentIdentities(warmupFor(n), "ec", `warm-${keyType}`), concurrency: 16, opensslSample: 0 });
mkdirSync(dir, { recursive: true });
const recording = withPerf ? await perfRecord(server.pid, join(dir, "perf.data")) : undefined;
const cpu0 = cpuMsOf(server.pid);
const load = await runLoad({ url: server.url, agents, concurrency: 16, opensslSample: 0 });
const perEnrollment = (cpuMsOf(server.pid) - cpu0) / n;
await recording?.stop();
console.log(`${keyType}: ${load.perSecond}/s, server CPU ${perEnrollment.toFixed(2)} ms per enrollment, ${load.failed} failed`);
await server.stop();
removeScratchCas();
if (withPerf) {
  console.log(`\nperf record -e cpu-clock of the server's threads (${join(dir, "perf.data")}), ms of CPU per enrollment:`);
  for (const { bucket, share } of perfBuckets(join(dir, "perf.data"))) {
    if (share >= 0.005) console.log(`${(100 * share).toFixed(1).padStart(5)}%  ${(share * perEnrollment).toFixed(3)} ms  ${bucket}`);
  }
  process.exit(0);
}
await new Promise((r) => setTimeout(r, 500));
const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
if (!file) throw new Error(`no profile in ${dir}`);
summarize(join(dir, file));

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

function summarize(path: string): void {
  const p = JSON.parse(readFileSync(path, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<number, number>();
  p.samples.forEach((s, i) => self.set(s, (self.get(s) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byModule = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame;
    const url = f.url;
    const mod = url.includes("node_modules/") ? url.split("node_modules/")[1]!.split("/")[0]! : url.includes("/dist/") ? `fleetca ${url.split("/dist/")[1]!.split("/").slice(0, 2).join("/")}` : url ? url.replace(/^node:/, "node:").split("/").slice(0, 2).join("/") : `(${f.functionName || "native"})`;
    byModule.set(mod, (byModule.get(mod) ?? 0) + t);
    const fn = `${f.functionName || "(anonymous)"} ${url.split("/").slice(-2).join("/")}:${f.lineNumber}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + t);
  }
  const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, t]) => `${((100 * t) / total).toFixed(1).padStart(5)}%  ${name}`).join("\n");
  console.log(`profile ${path}: ${(total / 1000).toFixed(0)} ms sampled\n\nby module (self time):\n${top(byModule, 20)}\n\nby function (self time):\n${top(byFn, 30)}`);
}
