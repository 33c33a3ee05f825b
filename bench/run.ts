/**
 * The benchmark runner (`npm run bench`, which builds first):
 *
 *   npm run bench                                  every scenario at full size (~15 min here)
 *   npm run bench -- --scenario revoke             one scenario (enroll, pinned, signall, list, revoke, ocsp, server)
 *   npm run bench -- --only pinned                 the same (--only is --scenario); crash, curve and cores run only when named
 *   npm run bench -- --scenario enroll --n 300     a smaller N for that scenario
 *   npm run bench -- --quick                       every scenario small (results go to results/tmp/quick)
 *   npm run bench -- --puppetserver                also Puppet Server (bench/puppetserver.sh installs it;
 *                                                  FLEETCA_BENCH_PUPPETSERVER=1 does the same)
 *   npm run bench -- --scenario puppetserver       Puppet Server only
 *   npm run bench -- --only regenerate             ca regenerate of a CA holding 100,000 certificates
 *   npm run bench -- --only pinned --part sign-all only the pinned sign --all (--baseline: alternated with another build)
 *
 * Full-size runs write bench/results/<scenario>.json and regenerate bench/results/README.md;
 * runs with --quick or --n write under bench/results/tmp/ unless --out says otherwise, so a
 * quick look never overwrites the committed figures.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { RESULTS_DIR, TMP_DIR } from "./lib/paths.js";
import { regenerateReadme, waitQuiet, writeResult, type ScenarioResult } from "./lib/results.js";
import { enrollScenarios } from "./scenarios/enroll.js";
import { listScenario } from "./scenarios/list.js";
import { revokeScenario } from "./scenarios/revoke.js";
import { signAllScenario } from "./scenarios/signall.js";
import { puppetServerScenarios } from "./scenarios/puppetserver.js";
import { ocspScenarios } from "./scenarios/ocsp.js";
import { pinnedScenario } from "./scenarios/pinned.js";
import { crashScenario } from "./scenarios/crash.js";
import { curveScenario } from "./scenarios/curve.js";
import { coresScenario } from "./scenarios/cores.js";
import { journalScenario } from "./scenarios/journal.js";
import { regenerateScenario } from "./scenarios/regenerate.js";

const ALL = ["enroll", "pinned", "signall", "list", "revoke", "ocsp"] as const;
/** Run only when named (long, or hard on the machine): `--only crash`, `--only curve`, `--only cores`. */
const EXTRA = ["server", "puppetserver", "crash", "curve", "cores", "journal", "regenerate"] as const;

const { values } = parseArgs({
  options: {
    scenario: { type: "string", short: "s" },
    only: { type: "string" },
    n: { type: "string", short: "n" },
    c: { type: "string", short: "c", default: "16" },
    quick: { type: "boolean", default: false },
    puppetserver: { type: "boolean", default: process.env.FLEETCA_BENCH_PUPPETSERVER === "1" },
    out: { type: "string" },
    /** Another build's bin/fleetca.js to alternate with (pinned): a same-run comparison. */
    baseline: { type: "string" },
    /** One part of a scenario: `--only pinned --part sign-all`. */
    part: { type: "string" },
  },
});

const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
// --only is --scenario under another name: one measurement on its own, one command.
const chosen = (values.only ?? values.scenario ?? ALL.join(",")).split(",").map((s) => s.trim()).filter(Boolean);
for (const s of chosen) {
  if (!(ALL as readonly string[]).includes(s) && !(EXTRA as readonly string[]).includes(s)) {
    console.error(`unknown scenario "${s}"; choose from ${[...ALL, ...EXTRA].join(", ")}`);
    process.exit(2);
  }
}
const n = values.n === undefined ? undefined : Number(values.n);
if (n !== undefined && !(n > 0)) {
  console.error("--n must be a positive number");
  process.exit(2);
}
const quick = values.quick;
const out = values.out ?? (quick || n !== undefined ? join(TMP_DIR, "quick") : RESULTS_DIR);
const size = (full: number, small: number) => n ?? (quick ? small : full);

const save = (r: ScenarioResult) => {
  const file = writeResult(out, r);
  console.log(`\n== ${r.scenario}: ${r.title}  (${file})`);
  for (const row of r.rows) {
    const met = row.met === true ? "  [met]" : row.met === false ? "  [NOT MET]" : "";
    console.log(`  ${row.measurement}: ${row.fleetca}${row.compare ? `  (${row.compare})` : ""}${row.target ? `  target ${row.target}` : ""}${met}`);
  }
};

const t0 = Date.now();
const wants = (s: string) => chosen.includes(s);
// Other jobs on this 2-core machine move every figure by tens of percent: start each scenario quiet.
const quiet = async (name: string) => {
  const load = await waitQuiet(0.8, quick ? 10_000 : 90_000);
  if (load >= 0.8) console.log(`(${name}: starting with load average ${load.toFixed(2)}: something else is using the cores)`);
};
if (wants("enroll") || wants("server")) {
  await quiet("enroll");
  for (const r of await enrollScenarios({ n: size(2000, 300), concurrency: Number(values.c), command, serverOnly: !wants("enroll") })) save(r);
}
if (wants("pinned")) {
  await quiet("pinned");
  if (values.part !== undefined && values.part !== "sign-all") {
    console.error(`unknown --part "${values.part}"; pinned has: sign-all`);
    process.exit(2);
  }
  save(await pinnedScenario({ n: size(2000, 300), pending: size(10_000, 500), concurrency: Number(values.c), command, baseline: values.baseline, part: values.part }));
}
if (wants("signall")) await quiet("signall");
if (wants("signall")) save(await signAllScenario({ pending: size(10_000, 500), command }));
if (wants("list")) await quiet("list");
if (wants("list")) save(await listScenario({ entries: size(100_000, 10_000), command }));
if (wants("revoke")) {
  await quiet("revoke");
  const top = size(100_000, 10_000);
  save(await revokeScenario({ levels: [0, Math.round(top / 10), top], samples: quick ? 5 : 7, command }));
}
if (wants("ocsp")) {
  await quiet("ocsp");
  for (const r of await ocspScenarios({ n: size(1000, 100), durationMs: quick ? 2000 : 10_000, concurrency: Number(values.c), command })) save(r);
}
if (wants("crash")) {
  await quiet("crash");
  save(await crashScenario({ kills: n ?? (quick ? 10 : 60), concurrency: Number(values.c), command }));
}
if (wants("journal")) {
  await quiet("journal");
  save(await journalScenario({ command, baseline: values.baseline, rounds: quick ? 1 : 3 }));
}
if (wants("cores")) {
  await quiet("cores");
  save(await coresScenario({ n: size(2000, 300), concurrency: Number(values.c), command }));
}
if (wants("curve")) {
  await quiet("curve");
  const top = size(1_000_000, 20_000);
  save(await curveScenario({ levels: [top / 100, top / 10, top], command, outDir: out }));
}
if (wants("regenerate")) {
  await quiet("regenerate");
  save(await regenerateScenario({ certificates: size(100_000, 10_000), command }));
}
if (values.puppetserver || wants("puppetserver")) {
  await quiet("puppetserver");
  for (const r of await puppetServerScenarios({ n: size(2000, 300), concurrency: Number(values.c), pending: size(1000, 200), command })) save(r);
}
console.log(`\nREADME: ${regenerateReadme(out)}  (${Math.round((Date.now() - t0) / 1000)} s)`);
