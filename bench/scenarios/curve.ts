/**
 * The cost curve (issue 15): the same figures with 10,000, 100,000 and 1,000,000
 * certificates in the store (bench/lib/fixture.ts makes them), beside a CA with none:
 * server start (spawn to first answer), RSS idle, `fleetca ca list --all`, one revoke (CLI
 * process and in process), one enrollment's latency, the console API's page of 50
 * (GET /api/v1/certificates?limit=50 with the server's own certificate), and the index's
 * size on disk. Writes bench/results/curve.svg (one panel per figure) beside the table.
 *
 *   npm run bench -- --only curve              0, 10k, 100k, 1M (~15 min on a quiet 2-core machine; the fixture needs
 *                                              ~4.5 GB of disk, checked first, removed after)
 *   npm run bench -- --only curve --n 100000   0, 1k, 10k, 100k (~3 min): the short form
 *   npm run bench -- --only curve --n 20000    0, 200, 2,000, 20,000
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { agentIdentities } from "../lib/agents.js";
import { checkDiskFor, growFixture, fixtureName } from "../lib/fixture.js";
import { InventoryNames } from "../../src/store/file/inventory-names.js";
import { BENCH_ACTOR, fleetcaCli, freshCa, inProcessCa, median } from "../lib/fleetca.js";
import { runLoad } from "../lib/load.js";
import { fmt, machine, type Row, type ScenarioResult } from "../lib/results.js";
import { memoryOf, startServer } from "../lib/server.js";

export interface CurveOptions {
  levels: number[];
  command: string;
  /** Where the SVG goes. */
  outDir: string;
}

export interface CurvePoint {
  certificates: number;
  startMs: number;
  rssIdleMb: number;
  /** After the enrollments and API pages: the index loaded. */
  rssAfterMb: number;
  listMs: number;
  /** The first list after the server's enrollments, which re-reads signed/'s names once (index-cache.ts). */
  listFirstMs: number;
  revokeCliMs: number;
  revokeInProcessMs: number;
  /** 30 enrollments (C=1) starting a second after the server's start: the first loads the index (the max). */
  enrollP50Ms: number;
  /** The slowest of the 30: the first, which loads the index in the server. */
  enrollMaxMs: number;
  /** 100 more, 5 s later, the start-up's work done (index loaded, signed/ swept): the latency a running server gives. */
  enrollSettledP50Ms: number;
  enrollSettledMaxMs: number;
  apiPageMs?: number;
  indexBytes: number;
  fixtureMs: number;
}

/** GET path over a fresh TLS connection with the server's own certificate as the client's; status and ms. */
function apiGet(url: string, path: string, ssldir: string): Promise<{ status: number; ms: number }> {
  const cert = readFileSync(join(ssldir, "certs", "ca.bench.test.pem"));
  const key = readFileSync(join(ssldir, "private_keys", "ca.bench.test.pem"));
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = https.get(`${url}${path}`, { rejectUnauthorized: false, agent: false, cert, key, timeout: 30_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on("error", () => resolve({ status: 0, ms: Number.NaN }));
  });
}

async function measure(cadir: string, certificates: number, fixtureMs: number, revokeNames: string[]): Promise<CurvePoint> {
  const starts: number[] = [];
  let server = await startServer({ cadir });
  for (let i = 0; i < 3; i++) {
    await server.stop();
    server = await startServer({ cadir });
    starts.push(server.startMs);
  }
  let enrollP50Ms: number;
  let enrollMaxMs: number;
  let enrollSettledP50Ms: number;
  let enrollSettledMaxMs: number;
  let apiPageMs: number | undefined;
  let rss: number;
  let rssAfter: number;
  try {
    await new Promise((r) => setTimeout(r, 1000));
    rss = memoryOf(server.pid).rssKb / 1024;
    const agents = await agentIdentities(30, "ec", `curve-${certificates}`);
    const load = await runLoad({ url: server.url, agents, concurrency: 1, opensslSample: 0 });
    if (load.failed > 0) throw new Error(`enrollment failed at ${certificates}: ${load.errors[0]}`);
    enrollP50Ms = load.latencyMs.p50;
    enrollMaxMs = load.latencyMs.max;
    await new Promise((r) => setTimeout(r, 5000));
    const settled = await runLoad({ url: server.url, agents: await agentIdentities(100, "ec", `curve-settled-${certificates}`), concurrency: 1, opensslSample: 0 });
    if (settled.failed > 0) throw new Error(`enrollment failed at ${certificates}: ${settled.errors[0]}`);
    enrollSettledP50Ms = settled.latencyMs.p50;
    enrollSettledMaxMs = settled.latencyMs.max;
    const ssldir = join(cadir, "..", "ssl");
    const pages: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await apiGet(server.url, "/api/v1/certificates?limit=50", ssldir);
      if (r.status === 200) pages.push(r.ms);
    }
    apiPageMs = pages.length > 0 ? median(pages) : undefined;
    rssAfter = memoryOf(server.pid).rssKb / 1024;
  } finally {
    await server.stop();
  }
  const lists: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await fleetcaCli(["ca", "list", "--all", "--cadir", cadir]);
    if (r.code !== 0) throw new Error(`list --all failed: ${r.stderr.slice(0, 500)}`);
    lists.push(r.ms);
  }
  const cli: number[] = [];
  for (const name of revokeNames.slice(0, 3)) {
    const r = await fleetcaCli(["ca", "revoke", "--cadir", cadir, name]);
    if (r.code !== 0) throw new Error(`revoke ${name} failed: ${r.stderr.slice(0, 500)}`);
    cli.push(r.ms);
  }
  const ca = inProcessCa(cadir);
  // The in-process figure is what a running server pays: its first revoke (records loaded, the
  // inventory's table of names started) is not timed, and the table is built before the timed ones.
  await ca.revoke([revokeNames[3]!], BENCH_ACTOR);
  await InventoryNames.for(join(cadir, "inventory.txt")).built();
  const inproc: number[] = [];
  for (const name of revokeNames.slice(4, 9)) {
    const t0 = performance.now();
    await ca.revoke([name], BENCH_ACTOR);
    inproc.push(performance.now() - t0);
  }
  return {
    certificates, startMs: Math.round(median(starts)), rssIdleMb: Math.round(rss), rssAfterMb: Math.round(rssAfter), listMs: Math.round(median(lists)), listFirstMs: Math.round(lists[0]!),
    revokeCliMs: Math.round(median(cli)), revokeInProcessMs: Math.round(median(inproc) * 10) / 10,
    enrollP50Ms: Math.round(enrollP50Ms * 10) / 10, enrollMaxMs: Math.round(enrollMaxMs),
    enrollSettledP50Ms: Math.round(enrollSettledP50Ms * 10) / 10, enrollSettledMaxMs: Math.round(enrollSettledMaxMs), apiPageMs: apiPageMs === undefined ? undefined : Math.round(apiPageMs * 10) / 10,
    indexBytes: statSync(join(cadir, "fleetca_index.jsonl"), { throwIfNoEntry: false })?.size ?? 0, fixtureMs: Math.round(fixtureMs),
  };
}

export async function curveScenario(o: CurveOptions): Promise<ScenarioResult> {
  const cadir = await freshCa(`curve-${o.levels.at(-1)}`, "ec-p256");
  // Before any level: a run that cannot reach its last level should say so now, not after 100,000.
  checkDiskFor(cadir, (o.levels.at(-1) ?? 0) + 10);
  const [agent] = await agentIdentities(1, "ec", "curvekey");
  const points: CurvePoint[] = [];
  let have = 0;
  try {
    for (const level of [0, ...o.levels]) {
      const t0 = performance.now();
      // Ten more each level, issued by the fixture too: the revokes take names from the newest.
      const target = level + 10;
      await growFixture(cadir, have, target, agent!, (d) => process.stdout.write(`\r  curve fixture: ${d.toLocaleString("en-US")} certificates`));
      const fixtureMs = performance.now() - t0;
      const names = Array.from({ length: 10 }, (_, i) => fixtureName(target - 10 + i));
      have = target;
      points.push(await measure(cadir, level, fixtureMs, names));
      console.log(`\n  curve at ${level.toLocaleString("en-US")}: ${JSON.stringify(points.at(-1))}`);
    }
  } finally {
    // ~4 kB a file on disk: a million of them are ~5 GB, not to be left behind.
    rmSync(join(cadir, ".."), { recursive: true, force: true });
  }
  const svg = curveSvg(points);
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, "curve.svg"), svg);
  const at0 = points[0]!;
  const top = points.at(-1)!;
  const ten = points[1]!;
  const rows: Row[] = points.map((p) => ({
    measurement: `${p.certificates.toLocaleString("en-US")} certificates: start / RSS idle, after use / list --all (first) / revoke CLI, in process / enrollment p50 (max) after start; settled / API page of 50 / index`,
    fleetca: `${fmt.ms(p.startMs)} / ${p.rssIdleMb}, ${p.rssAfterMb} MB / ${fmt.ms(p.listMs)} (${fmt.ms(p.listFirstMs ?? p.listMs)}) / ${fmt.ms(p.revokeCliMs)}, ${fmt.ms(p.revokeInProcessMs)} / ${fmt.ms(p.enrollP50Ms)} (${fmt.ms(p.enrollMaxMs ?? p.enrollP50Ms)}); ${fmt.ms(p.enrollSettledP50Ms)} (${fmt.ms(p.enrollSettledMaxMs)}) / ${p.apiPageMs === undefined ? "n/a" : fmt.ms(p.apiPageMs)} / ${fmt.bytes(p.indexBytes)}`,
    compare: p.certificates === 0 ? "the baseline for the revoke ratios" : `revoke ×${(p.revokeCliMs / at0.revokeCliMs).toFixed(2)} CLI, ×${(p.revokeInProcessMs / at0.revokeInProcessMs).toFixed(2)} in process against 0; fixture made in ${fmt.ms(p.fixtureMs)}`,
    met: null,
  }));
  const n = top.certificates.toLocaleString("en-US");
  rows.push(
    { measurement: `server start at ${n}`, fleetca: fmt.ms(top.startMs), target: "< 3 s", met: top.startMs < 3000 },
    { measurement: `server RSS idle at ${n}; after the enrollments and API pages (index loaded)`, fleetca: `${top.rssIdleMb} MB; ${top.rssAfterMb} MB`, target: "< 500 MB", met: top.rssIdleMb < 500 && top.rssAfterMb < 500 },
    { measurement: `list --all at ${n}`, fleetca: fmt.ms(top.listMs), target: "< 5 s", met: top.listMs < 5000 },
    { measurement: `revoke at ${n} against 0 (CLI; in process)`, fleetca: `×${(top.revokeCliMs / at0.revokeCliMs).toFixed(2)}; ×${(top.revokeInProcessMs / at0.revokeInProcessMs).toFixed(2)}`, target: "< 3×", met: top.revokeCliMs < 3 * at0.revokeCliMs && top.revokeInProcessMs < 3 * at0.revokeInProcessMs },
    {
      measurement: `enrollment latency p50 at ${n} against ${ten.certificates.toLocaleString("en-US")}, a running server (100 at C=1, 5 s after the first 30)`,
      fleetca: `${fmt.ms(top.enrollSettledP50Ms)} against ${fmt.ms(ten.enrollSettledP50Ms)} (×${(top.enrollSettledP50Ms / ten.enrollSettledP50Ms).toFixed(2)}); max ${fmt.ms(top.enrollSettledMaxMs)} against ${fmt.ms(ten.enrollSettledMaxMs)}`,
      compare: `the first 30 after start: ${fmt.ms(top.enrollP50Ms)} against ${fmt.ms(ten.enrollP50Ms)} (×${(top.enrollP50Ms / ten.enrollP50Ms).toFixed(2)}; the first loads the index, ${fmt.ms(top.enrollMaxMs)})`,
      target: "unchanged (within noise, ≤ ×1.25)",
      met: top.enrollSettledP50Ms <= 1.25 * ten.enrollSettledP50Ms,
    },
  );
  return {
    scenario: "curve",
    title: "the cost curve: the same figures with 0 to 1,000,000 certificates in the store (chart: curve.svg)",
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows,
    limits:
      "Server start and idle RSS do not read the index: a name is looked up in its files until something lists (start-up recovery lists requests/ only). " +
      "The first enrollment loads the index in the server (its max), and RSS after use holds it (packed: ~0.2 kB per certificate, src/store/file/packed-table.ts). " +
      "`list --all` is Node's start-up, loading the index's bytes (no sort: the fixture's journal is in name order, only names added since are sorted) and printing every line; the first list after the server wrote re-reads signed/'s names once. " +
      "A CLI revoke reads the name's two files and searches inventory.txt's bytes for the name; in process the inventory's table of names answers. " +
      "The CRL stays small here (a few revoked per level); a CRL of 100,000 entries is the revoke scenario's. The fixture is described in bench/lib/fixture.ts.",
    data: { points },
  };
}

/** One small panel per figure, x on a log scale (0 drawn at the left edge). */
export function curveSvg(points: CurvePoint[]): string {
  const panels: [string, (p: CurvePoint) => number | undefined, string][] = [
    ["server start", (p) => p.startMs, "ms"],
    ["RSS idle", (p) => p.rssIdleMb, "MB"],
    ["RSS after first use", (p) => p.rssAfterMb, "MB"],
    ["list --all", (p) => p.listMs, "ms"],
    ["revoke, CLI", (p) => p.revokeCliMs, "ms"],
    ["revoke, in process", (p) => p.revokeInProcessMs, "ms"],
    ["enrollment p50, running", (p) => p.enrollSettledP50Ms, "ms"],
    ["API page of 50", (p) => p.apiPageMs, "ms"],
    ["index on disk", (p) => p.indexBytes / 1e6, "MB"],
  ];
  const W = 260;
  const H = 170;
  const cols = 4;
  const out: string[] = [];
  const xs = points.map((p) => Math.log10(Math.max(1, p.certificates)));
  const xmax = Math.max(...xs, 1);
  panels.forEach(([title, f, unit], k) => {
    const ox = (k % cols) * W;
    const oy = Math.floor(k / cols) * H;
    const vals = points.map(f);
    const ymax = Math.max(...vals.map((v) => v ?? 0), 1e-9) * 1.15;
    const px = (i: number) => ox + 40 + (xs[i]! / xmax) * (W - 60);
    const py = (v: number) => oy + H - 30 - (v / ymax) * (H - 60);
    out.push(`<text x="${ox + 10}" y="${oy + 18}" font-size="13" font-weight="bold">${title} (${unit})</text>`);
    out.push(`<line x1="${ox + 40}" y1="${oy + H - 30}" x2="${ox + W - 20}" y2="${oy + H - 30}" stroke="#888"/>`);
    out.push(`<line x1="${ox + 40}" y1="${oy + 30}" x2="${ox + 40}" y2="${oy + H - 30}" stroke="#888"/>`);
    out.push(`<text x="${ox + 4}" y="${oy + 34}" font-size="10">${fmtNum(ymax)}</text>`);
    const pts = vals.map((v, i) => (v === undefined ? undefined : `${px(i).toFixed(1)},${py(v).toFixed(1)}`)).filter(Boolean);
    out.push(`<polyline fill="none" stroke="#1f6fb4" stroke-width="2" points="${pts.join(" ")}"/>`);
    vals.forEach((v, i) => {
      if (v === undefined) return;
      out.push(`<circle cx="${px(i).toFixed(1)}" cy="${py(v).toFixed(1)}" r="3" fill="#1f6fb4"/>`);
      out.push(`<text x="${px(i).toFixed(1)}" y="${(py(v) - 6).toFixed(1)}" font-size="9" text-anchor="middle">${fmtNum(v)}</text>`);
      out.push(`<text x="${px(i).toFixed(1)}" y="${oy + H - 16}" font-size="9" text-anchor="middle">${short(points[i]!.certificates)}</text>`);
    });
  });
  const rows = Math.ceil(panels.length / cols);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * W}" height="${rows * H + 24}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n<text x="10" y="${rows * H + 16}" font-size="11">x: certificates in the store (log scale; 0 at the left edge). Written by bench/scenarios/curve.ts.</text>\n${out.join("\n")}\n</svg>\n`;
}

function fmtNum(v: number): string {
  return v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function short(n: number): string {
  return n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n);
}
