/**
 * The console at scale: a CA holding 100,000 certificates (1% revoked) and 1,000 pending
 * requests. Measures, for the JSON API the pages use, the server time of a page of 50 with
 * each filter and sort and of the pending list (p95 of repeated calls through the app, with a
 * console session), and in Debian's headless Chromium the time from navigation to a page's
 * table being shown (the page is interactive: its buttons and links are live).
 *
 *   npm run bench:console                      100,000 certificates, 1,000 pending (~5 min here)
 *   npm run bench:console -- --n 10000         a smaller CA (results to bench/results/tmp/)
 *   npm run bench:console -- --reuse           measure again on the CA the last run made
 *
 * Targets (issue 12): p95 < 50 ms per API answer; a page interactive in < 1 s.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ConsoleAccess } from "../src/ca/console/access.js";
import { CertificateAuthority } from "../src/ca/authority.js";
import { loadSettings } from "../src/config/index.js";
import { buildCsr, csrToPem } from "../src/pki/csr.js";
import { generateKeyPair } from "../src/pki/keys.js";
import { PUPPET_SHORT_NAMES } from "../src/pki/oids.js";
import { buildApp } from "../src/server/app.js";
import { createLogger } from "../src/server/log.js";
import { FileStore } from "../src/store/file/index.js";
import { launchChromium } from "../test/helpers/browser.js";
import { agentIdentities } from "./lib/agents.js";
import { BENCH_ACTOR, BENCH_SETTINGS, freshCa } from "./lib/fleetca.js";
import { fixtureName, growFixture } from "./lib/fixture.js";
import { RESULTS_DIR, TMP_DIR } from "./lib/paths.js";
import { fmt, machine, writeResult, type Row } from "./lib/results.js";
import { startServer } from "./lib/server.js";

const { values } = parseArgs({ options: { n: { type: "string" }, pending: { type: "string" }, calls: { type: "string" }, reuse: { type: "boolean" } } });
const N = Number(values.n ?? 100_000);
const PENDING = Number(values.pending ?? 1000);
const CALLS = Number(values.calls ?? 200);
const full = N >= 100_000 && PENDING >= 1000;
const PASSWORD = "bench console password";

const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)]!;
const round = (x: number) => Math.round(x * 10) / 10;

async function makeFixture(cadir: string, store: FileStore, ca: CertificateAuthority): Promise<void> {
  const [agent] = await agentIdentities(1, "ec", "consolekey");
  await growFixture(cadir, 0, N, agent!, (done) => console.log(`  ${done} certificates written`));
  await ca.revokeSerials(Array.from({ length: Math.floor(N / 100) }, (_, i) => BigInt(i * 100 + 52)), BENCH_ACTOR);
  const keys = await generateKeyPair({ type: "ec", curve: "P-256" });
  for (let i = 0; i < PENDING; i++) {
    const name = `pending-${String(i).padStart(5, "0")}.console.test`;
    const der = await buildCsr({ commonName: name, extensionRequests: [{ oid: PUPPET_SHORT_NAMES.pp_role!, value: `role${i % 7}` }] }, keys.privateKey, keys.publicKey);
    await ca.submitRequest(name, csrToPem(der), BENCH_ACTOR);
  }
  await new ConsoleAccess(store).addUser("bench", "operator", PASSWORD, BENCH_ACTOR);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const cadir = values.reuse ? join(TMP_DIR, "ca", "console", "ca") : await freshCa("console", "ec-p256");
  const store = new FileStore(cadir);
  const ca = new CertificateAuthority({ store, settings: BENCH_SETTINGS });
  if (!values.reuse) await makeFixture(cadir, store, ca);
  const setupS = (performance.now() - t0) / 1000;
  console.log(`fixture: ${N} certificates, ${PENDING} pending in ${setupS.toFixed(0)} s`);

  // ---- the API, in process: what the server spends per answer
  const settings = loadSettings({ file: null, env: {}, flags: { cadir, certname: "localhost" } });
  const app = buildApp({ ca, settings, log: createLogger("warn") });
  await app.ready();
  const login = await app.inject({ method: "POST", url: "/api/v1/session", headers: { "content-type": "application/json" }, payload: JSON.stringify({ user: "bench", password: PASSWORD }) });
  const cookie = String(login.headers["set-cookie"]).split(";")[0]!;
  const queries: [string, string][] = [
    ["certificates, page 1 (name order)", "/api/v1/certificates?limit=50"],
    ["certificates, last page", `/api/v1/certificates?limit=50&offset=${N - 50}`],
    ["certificates, revoked", "/api/v1/certificates?state=revoked&limit=50"],
    ["certificates, search", `/api/v1/certificates?search=${fixtureName(12345 % N).slice(0, 11)}&limit=50`],
    ["certificates, expiring within 30 days", "/api/v1/certificates?expires_within=30d&limit=50"],
    ["certificates, sorted by expiry, descending", "/api/v1/certificates?sort=notAfter&order=desc&limit=50"],
    ["certificates, sorted by serial", "/api/v1/certificates?sort=serial&limit=50&offset=500"],
    ["certificates, by state, descending", "/api/v1/certificates?sort=state&order=desc&limit=50"],
    ["pending requests, page of 50", "/api/v1/requests?limit=50"],
    ["pending requests, page of 200 (the page's poll)", "/api/v1/requests?limit=200"],
  ];
  const rows: Row[] = [];
  const api: Record<string, { p50: number; p95: number }> = {};
  for (const [label, url] of queries) {
    const times: number[] = [];
    for (let i = 0; i < CALLS + 5; i++) {
      const t = performance.now();
      const r = await app.inject({ method: "GET", url, headers: { cookie } });
      const ms = performance.now() - t;
      if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body.slice(0, 200)}`);
      if (i >= 5) times.push(ms);
    }
    const s = [...times].sort((a, b) => a - b);
    api[label] = { p50: round(s[s.length >> 1]!), p95: round(p95(times)) };
    const limit = label.includes("200") ? undefined : 50;
    rows.push({ measurement: `API: ${label} (p95 of ${CALLS})`, fleetca: `${fmt.ms(api[label]!.p95)} (p50 ${fmt.ms(api[label]!.p50)})`, target: limit ? "< 50 ms" : undefined, met: limit ? api[label]!.p95 < 50 : null });
    console.log(`  ${label}: p50 ${api[label]!.p50} ms, p95 ${api[label]!.p95} ms`);
  }
  await app.close();

  // ---- the pages in Chromium, against the real server
  const server = await startServer({ cadir, args: ["--certname", "localhost"], timeoutMs: 120_000 });
  const profile = join(TMP_DIR, "chromium");
  mkdirSync(profile, { recursive: true });
  const browser = await launchChromium(profile);
  const pages: Record<string, number[]> = {};
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${server.url}/console/`);
    await page.getByLabel("User name").fill("bench");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.locator("#pending-list tbody tr").first().waitFor();
    const targets: [string, string, string][] = [
      ["pending requests", "#/pending", "#pending-list tbody tr"],
      ["certificates", "#/certificates", "#cert-list tbody tr"],
      ["certificates sorted by expiry", "#/certificates?sort=notAfter&order=desc", "#cert-list tbody tr"],
      ["a certificate", `#/certificate/${fixtureName(7)}`, "#cert-fields"],
      ["CA overview", "#/overview", "#ca-fields"],
    ];
    for (const [label, hash, ready] of targets) {
      pages[label] = [];
      for (let i = 0; i < 6; i++) {
        await page.goto("about:blank");
        const t = performance.now();
        await page.goto(`${server.url}/console/${hash}`);
        await page.locator(ready).first().waitFor();
        if (i > 0) pages[label]!.push(performance.now() - t);
      }
      const worst = Math.max(...pages[label]!);
      rows.push({ measurement: `Chromium: ${label}, navigation to its table shown (worst of 5)`, fleetca: fmt.ms(worst), target: "< 1 s", met: worst < 1000 });
      console.log(`  page ${label}: worst ${round(worst)} ms`);
    }
  } finally {
    await browser.close();
    await server.stop();
  }

  const file = writeResult(full ? RESULTS_DIR : join(TMP_DIR, "console"), {
    scenario: "console",
    title: `The console with ${N.toLocaleString("en-US")} certificates and ${PENDING.toLocaleString("en-US")} pending requests`,
    command: `npm run bench:console${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    when: new Date().toISOString(),
    machine: machine(),
    rows,
    limits:
      "The list answers come from the in-memory index; a page of 50 in name order filters it once, another order sorts every match (a stable sort), " +
      "the pending list parses only the 50 CSRs on its page. Browser figures include TLS, the session check and the page's own fetch; the machine is shared, so they move with its load.",
    data: { certificates: N, pending: PENDING, calls: CALLS, api, pages, setupSeconds: round(setupS) },
  });
  console.log(`wrote ${file}`);
}

await main();
