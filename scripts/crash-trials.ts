/**
 * Crash trials: SIGKILL the CLI and the server at seeded random points while they work, then
 * check the CA. Five scenarios, taken in turn: `ca sign --all` (CLI), enrollment with autosign
 * (server), `ca revoke` over a large CRL (CLI), `ca clean` (CLI), certificate renewal (server).
 *
 * Each trial copies a prepared CA, starts the work, kills it after a random delay within the
 * work's measured length, and then:
 *   1. runs `fleetca ca check --format json` on what the crash left (no recovery yet), and
 *      counts what it reports (figures only: temporary files and requests already signed are
 *      what recovery is for);
 *   2. restarts, as an operator would: the CLI command is run again to its end, the server is
 *      started again (recovery at start) and stopped;
 *   3. requires `fleetca ca check` to pass, no serial on two inventory lines, one certificate
 *      per name where one signing was asked for, and every certificate acknowledged to a client
 *      before the kill (HTTP 200 with the PEM) still in the store.
 * Exits 1 on the first broken invariant, saying which and where the CA was left.
 *
 *   node --import tsx scripts/crash-trials.ts [--trials 50] [--seed 1] [--short] [--keep]
 * The test suite runs the short form (test/crash-trials.test.ts); the long form is the default.
 * Needs the build (npm run build): the children run bin/fleetca.js, as an operator would.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { CertificateAuthority } from "../src/ca/authority.js";
import { localPrincipal } from "../src/ca/principal.js";
import { setupCa } from "../src/ca/setup.js";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { buildCsr, csrToPem } from "../src/pki/csr.js";
import { generateKeyPair, privateKeyToPem } from "../src/pki/keys.js";
import { FileStore } from "../src/store/file/index.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin/fleetca.js");
const EC = { type: "ec", curve: "P-256" } as const;
const OPERATOR = localPrincipal("crash-trials", "localhost");

type Scenario = "sign-all" | "enroll" | "revoke" | "clean" | "renew";
const SCENARIOS: Scenario[] = ["sign-all", "enroll", "revoke", "clean", "renew"];

interface Options {
  trials: number;
  seed: number;
  short: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { trials: 50, seed: 1, short: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--trials") o.trials = Number(argv[++i]);
    else if (a === "--seed") o.seed = Number(argv[++i]);
    else if (a === "--short") o.short = true;
    else if (a === "--keep") o.keep = true;
    else throw new Error(`unknown argument ${a}: use --trials N --seed S --short --keep`);
  }
  if (!Number.isInteger(o.trials) || o.trials < 1) throw new Error("--trials must be a positive integer");
  return o;
}

/** mulberry32: a small seeded generator, so a failing trial can be run again exactly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------ prepared CAs

interface Node {
  name: string;
  keyPem: string;
  csrPem: string;
}

interface Template {
  dir: string;
  /** Names the trial works on. */
  names: string[];
  nodes: Node[];
}

async function makeNodes(prefix: string, count: number): Promise<Node[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = `${prefix}${i}.example.com`;
      const keys = await generateKeyPair(EC);
      return { name, keyPem: privateKeyToPem(keys.privateKey), csrPem: csrToPem(await buildCsr({ commonName: name }, keys.privateKey, keys.publicKey)) };
    }),
  );
}

async function newCa(root: string): Promise<{ cadir: string; ca: CertificateAuthority; store: FileStore }> {
  const cadir = path.join(root, "ca");
  const store = new FileStore(cadir);
  await setupCa(store, { caName: "Puppet CA: crash-trials", key: EC, caTtl: 86_400 * 365, now: new Date() });
  return { cadir, store, ca: new CertificateAuthority({ store, settings: { caTtl: 86_400 * 30, allowSubjectAltNames: false, allowAuthorizationExtensions: false, allowDuplicateCerts: false } }) };
}

async function prepare(scenario: Scenario, short: boolean, base: string): Promise<Template> {
  const root = mkdtempSync(path.join(base, `${scenario}-`));
  const { cadir, ca, store } = await newCa(root);
  const n = short ? 30 : 200;
  const nodes = await makeNodes(`${scenario}-`, n);
  const by = OPERATOR;
  if (scenario === "sign-all") {
    for (const x of nodes) writeFileSync(path.join(cadir, "requests", `${x.name}.pem`), x.csrPem);
  } else if (scenario === "revoke" || scenario === "clean" || scenario === "renew") {
    for (const x of nodes) await ca.submitRequest(x.name, x.csrPem, by);
    await ca.signAll({ by });
  }
  if (scenario === "revoke") {
    // A large CRL: serials taken and revoked without certificates (as after many cleans).
    const count = short ? 5_000 : 50_000;
    const first = await store.withLock(() => store.allocateSerials(count));
    await ca.revokeSerials(Array.from({ length: count }, (_, i) => first + BigInt(i)), by);
  }
  for (const x of nodes) writeFileSync(path.join(root, `${x.name}.key`), x.keyPem);
  return { dir: root, names: nodes.map((x) => x.name), nodes };
}

// ------------------------------------------------------------------ running and killing

function fleetca(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts a CLI command; resolves when it exits by itself or was killed after `killAfterMs`. */
function runKilled(args: string[], killAfterMs: number): Promise<{ killed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.on("exit", (_code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === "SIGKILL", ms: Date.now() - started });
    });
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Server {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
}

async function startServer(root: string): Promise<Server> {
  const port = await freePort();
  const config = path.join(root, "fleetca.yaml");
  writeFileSync(config, `cadir: ${root}/ca\nssldir: ${root}/ssl\ncertname: crash-server\nkey_type: ec\nbind: 127.0.0.1\nport: ${port}\nautosign: true\ncsr_rate: 0\nlog_level: warn\n`);
  const child = spawn(process.execPath, [BIN, "server", "--config", config], { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes("Listening on")) resolve();
    });
    child.on("exit", () => reject(new Error(`the server exited before listening: ${err}`)));
  });
  return { child, port, exited };
}

function request(port: number, method: string, url: string, body?: string, tls?: { key: string; cert: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port, method, path: url, rejectUnauthorized: false, headers: { "content-type": "text/plain", accept: "text/plain" }, agent: false, ...tls },
      (res) => {
        let data = "";
        res.on("data", (d: Buffer) => (data += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

interface Ack {
  name: string;
  pem: string;
}

/** Enrolls or renews every node, a few at a time, recording what the server acknowledged. */
async function drive(scenario: "enroll" | "renew", port: number, root: string, nodes: Node[], acks: Ack[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < nodes.length) {
      const x = nodes[next++]!;
      try {
        if (scenario === "enroll") {
          const put = await request(port, "PUT", `/puppet-ca/v1/certificate_request/${x.name}`, x.csrPem);
          if (put.status !== 200) continue;
          const got = await request(port, "GET", `/puppet-ca/v1/certificate/${x.name}`);
          if (got.status === 200) acks.push({ name: x.name, pem: got.body });
        } else {
          const cert = readFileSync(path.join(root, "certs", `${x.name}.pem`), "utf8");
          const r = await request(port, "POST", "/puppet-ca/v1/certificate_renewal", undefined, { key: x.keyPem, cert });
          if (r.status === 200) acks.push({ name: x.name, pem: r.body });
        }
      } catch {
        return; // the server is gone
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
}

// ------------------------------------------------------------------ one trial

interface TrialResult {
  scenario: Scenario;
  delayMs: number;
  killedMidWork: boolean;
  acknowledged: number;
  /** What `ca check` reported right after the kill, before any recovery, by check. */
  leftByCrash: Record<string, number>;
}

class TrialFailure extends Error {}

async function trial(scenario: Scenario, t: Template, delayMs: number, base: string, workOnly = false): Promise<TrialResult & { workMs: number }> {
  const root = mkdtempSync(path.join(base, `trial-${scenario}-`));
  cpSync(t.dir, root, { recursive: true });
  const cadir = path.join(root, "ca");
  const acks: Ack[] = [];
  let killedMidWork = false;
  let workStarted = Date.now();
  const cli = (): string[] => {
    switch (scenario) {
      case "sign-all":
        return ["ca", "sign", "--all", "--cadir", cadir];
      case "revoke":
        return ["ca", "revoke", ...t.names, "--cadir", cadir];
      case "clean":
        return ["ca", "clean", ...t.names, "--cadir", cadir];
      default:
        return [];
    }
  };
  if (scenario === "enroll" || scenario === "renew") {
    if (scenario === "renew") {
      const { mkdirSync } = await import("node:fs");
      mkdirSync(path.join(root, "certs"));
      for (const x of t.nodes) writeFileSync(path.join(root, "certs", `${x.name}.pem`), readFileSync(path.join(cadir, "signed", `${x.name}.pem`)));
    }
    const server = await startServer(root);
    workStarted = Date.now();
    const driving = drive(scenario, server.port, root, t.nodes, acks);
    const done = driving.then(() => "done" as const);
    const timeout = new Promise<"kill">((r) => setTimeout(() => r("kill"), delayMs));
    killedMidWork = (await Promise.race([done, timeout])) === "kill";
    server.child.kill("SIGKILL");
    await server.exited;
    await driving.catch(() => undefined);
  } else {
    killedMidWork = (await runKilled(cli(), delayMs)).killed;
  }
  const workMs = Date.now() - workStarted;
  if (workOnly) {
    rmSync(root, { recursive: true, force: true });
    return { scenario, delayMs, killedMidWork, acknowledged: acks.length, leftByCrash: {}, workMs };
  }

  // 1. What the crash left, before any recovery.
  const left = checkJson(cadir);
  const leftByCrash: Record<string, number> = {};
  for (const r of left.results) if (r.problems.length > 0) leftByCrash[r.check] = r.problems.length;
  const hard = left.results.filter((r) => r.problems.length > 0 && !["leftovers", "requests", "crl", "inventory"].includes(r.check));
  if (hard.length > 0) throw new TrialFailure(`right after the kill: ${hard.map((r) => `${r.check}: ${r.problems.join("; ")}`).join(" | ")}`);

  // 2. Restart as an operator would.
  if (scenario === "enroll" || scenario === "renew") {
    const again = await startServer(root);
    again.child.kill("SIGTERM");
    await again.exited;
  } else {
    const r = fleetca(cli());
    if (scenario === "sign-all" && r.code !== 0 && !/Could not find certificate request|No certificate requests to sign/.test(r.stderr)) {
      throw new TrialFailure(`sign --all after the crash failed: ${r.stderr}`);
    }
  }

  // 3. The invariants.
  const after = checkJson(cadir);
  if (!after.ok) throw new TrialFailure(`ca check after recovery: ${after.results.filter((r) => r.problems.length > 0).map((r) => `${r.check}: ${r.problems.join("; ")}`).join(" | ")}`);
  const inventory = readFileSync(path.join(cadir, "inventory.txt"), "utf8").trimEnd().split("\n").map((l) => l.split(" "));
  const bySerial = new Map<string, number>();
  for (const [serial] of inventory) bySerial.set(serial!, (bySerial.get(serial!) ?? 0) + 1);
  const twice = [...bySerial].filter(([, n]) => n > 1);
  if (twice.length > 0) throw new TrialFailure(`serials on two inventory lines: ${twice.map(([s]) => s).join(", ")}`);
  if (scenario === "sign-all" || scenario === "enroll") {
    const perName = new Map<string, number>();
    for (const l of inventory) perName.set(l[3]!, (perName.get(l[3]!) ?? 0) + 1);
    const many = [...perName].filter(([s, n]) => n > 1 && s !== "/CN=Puppet" && !s.startsWith("/CN=crash-server") && !s.startsWith("/CN=ocsp-responder"));
    if (many.length > 0) throw new TrialFailure(`names signed twice: ${many.map(([s, n]) => `${s} x${n}`).join(", ")}`);
  }
  const serials = new Set(inventory.map((l) => BigInt(l[0]!)));
  for (const a of acks) {
    const cert = parseCertificatePem(a.pem);
    if (!serials.has(cert.serial)) throw new TrialFailure(`${a.name}: serial ${cert.serial.toString(16)} was acknowledged and is not in the inventory`);
    const file = path.join(cadir, "signed", `${a.name}.pem`);
    const current = existsSync(file) ? parseCertificatePem(readFileSync(file, "utf8")) : undefined;
    if (!current || current.serial < cert.serial) throw new TrialFailure(`${a.name}: the certificate acknowledged (serial ${cert.serial.toString(16)}) was lost`);
  }
  rmSync(root, { recursive: true, force: true });
  return { scenario, delayMs, killedMidWork, acknowledged: acks.length, leftByCrash, workMs };
}

function checkJson(cadir: string): { ok: boolean; results: { check: string; problems: string[] }[] } {
  const r = fleetca(["ca", "check", "--cadir", cadir, "--format", "json"]);
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new TrialFailure(`ca check printed no report (exit ${r.code}): ${r.stderr}`);
  }
}

/** How long the unkilled work takes, so kills land anywhere in it. */
async function measure(scenario: Scenario, t: Template, base: string): Promise<number> {
  return Math.max(200, (await trial(scenario, t, 120_000, base, true)).workMs);
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(ROOT, "dist/cli/main.js"))) {
    process.stderr.write("crash-trials: no build in dist/; run `npm run build` first\n");
    return 2;
  }
  const base = mkdtempSync(path.join(tmpdir(), "fleetca-crash-"));
  const random = rng(o.seed);
  const started = Date.now();
  const results: TrialResult[] = [];
  try {
    process.stderr.write(`crash-trials: preparing CAs (${o.short ? "short" : "long"} form)...\n`);
    const templates = new Map<Scenario, Template>();
    const length = new Map<Scenario, number>();
    // Only the scenarios the trials reach (a short run of three prepares three).
    for (const s of SCENARIOS.slice(0, Math.min(o.trials, SCENARIOS.length))) {
      templates.set(s, await prepare(s, o.short, base));
      // The short form skips measuring: its small CAs' work ends within about a second and a half of the start.
      length.set(s, o.short ? 1500 : await measure(s, templates.get(s)!, base));
    }
    for (let i = 0; i < o.trials; i++) {
      const s = SCENARIOS[i % SCENARIOS.length]!;
      const delay = Math.round(random() * length.get(s)!);
      try {
        const r = await trial(s, templates.get(s)!, delay, base);
        results.push(r);
        process.stderr.write(`trial ${i + 1}/${o.trials} ${s} killed at ${delay} ms${r.killedMidWork ? "" : " (had finished)"}: ok; acknowledged ${r.acknowledged}; left by the crash: ${JSON.stringify(r.leftByCrash)}\n`);
      } catch (e) {
        process.stderr.write(`trial ${i + 1}/${o.trials} ${s} killed at ${delay} ms (seed ${o.seed}): FAILED: ${(e as Error).message}\n`);
        return 1;
      }
    }
    const killed = results.filter((r) => r.killedMidWork).length;
    const left: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.leftByCrash)) left[k] = (left[k] ?? 0) + v;
    const summary = {
      trials: results.length, seed: o.seed, form: o.short ? "short" : "long", killedMidWork: killed,
      measuredMs: Object.fromEntries(length), acknowledged: results.reduce((n, r) => n + r.acknowledged, 0),
      leftByCrashesBeforeRecovery: left, seconds: Math.round((Date.now() - started) / 1000),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } finally {
    if (!o.keep) rmSync(base, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`crash-trials: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 2;
  },
);
