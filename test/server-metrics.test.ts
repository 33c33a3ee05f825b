/**
 * /healthz, /readyz and /metrics: real enrollments, signings, refusals and a revoke move the
 * counters and gauges (scraped before and after, in Prometheus's text format); who may read
 * them (the rule table, and an auth_rules entry opening /metrics to a scraper's certificate);
 * readiness failing for an expired CRL and an unreachable store; the alert rules file parsed
 * and checked against the metrics the server really exposes; and the same endpoints on
 * `fleetca server` over HTTPS, its CA meter and timed store wired in.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { CertificateAuthority } from "../src/ca/authority.js";
import { generateCertificate } from "../src/ca/generate.js";
import { setupCa } from "../src/ca/setup.js";
import type { CaStore } from "../src/ca/store.js";
import { buildApp } from "../src/server/app.js";
import type { ServerDeps } from "../src/server/deps.js";
import { ServerMetrics } from "../src/server/ops/metrics.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { as, EC, headerPeer, memoryLogger, TEST_BY, testSettings, type Identity } from "./helpers/server-fixture.js";
import { MemoryStore } from "./helpers/memory-store.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

const V1 = "/puppet-ca/v1";
const ALERTS = path.resolve(import.meta.dirname, "../deploy/prometheus/fleetca-alerts.yml");

/** Prometheus text format -> `name{labels}` -> value (labels as written, sorted by the client). */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

const sample = (m: Map<string, number>, name: string, labels: Record<string, string> = {}) => {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total: number | undefined;
  for (const [key, value] of m) {
    const [n, rest = ""] = key.split("{");
    if (n !== name) continue;
    if (want.every((w) => rest.includes(w))) total = (total ?? 0) + value;
  }
  return total;
};

/** A store that can be made to fail, to see readiness say so. */
function breakable(store: CaStore): { store: CaStore; broken: { now: boolean } } {
  const broken = { now: false };
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (key === "materialVersion") return () => (broken.now ? Promise.reject(new Error("connection refused")) : (value as () => Promise<string>).call(target));
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: proxy, broken };
}

describe("health and metrics, in process", () => {
  let deps: ServerDeps;
  let app: ReturnType<typeof buildApp>;
  let admin: Identity;
  let node: Identity;
  let broken: { now: boolean };
  let clock: Date | undefined;

  before(async () => {
    const memory = new MemoryStore();
    await setupCa(memory, { caName: "Puppet CA: ca.test", key: EC, caTtl: 86400 * 365 * 5, now: new Date() });
    const metrics = new ServerMetrics({ processMetrics: false });
    const b = breakable(metrics.timedStore(memory));
    broken = b.broken;
    const settings = testSettings({ authRules: [{ path: "/metrics", methods: ["GET"], allow: "node" }] });
    const ca = new CertificateAuthority({ store: b.store, settings, meter: metrics.meter });
    const make = async (name: string, cliAuth = false) => {
      const g = await generateCertificate(ca, name, { by: TEST_BY, key: EC, cliAuth });
      return { name, certPem: g.certPem, keyPem: g.keyPem, der: g.cert.der };
    };
    admin = await make("admin.test", true);
    node = await make("node.test");
    deps = { ca, settings, log: memoryLogger().log, peer: headerPeer, metrics, now: () => clock ?? new Date() };
    app = buildApp(deps);
    await app.ready();
  });

  after(async () => app?.close());

  const scrape = async () => {
    const r = await app.inject({ method: "GET", url: "/metrics", headers: as(admin) });
    assert.equal(r.statusCode, 200, r.body);
    assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    return parseExposition(r.body);
  };

  const csr = (cn: string) => {
    const dir = tmpDir("fleetca-metrics-csr-");
    try {
      openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${cn}`, "-keyout", path.join(dir, "k.pem"), "-out", path.join(dir, "r.pem")]);
      return fs.readFileSync(path.join(dir, "r.pem"), "utf8");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const put = (name: string, body: string) => app.inject({ method: "PUT", url: `${V1}/certificate_request/${name}`, payload: body, headers: { "content-type": "text/plain" } });
  const setState = (name: string, state: string) =>
    app.inject({ method: "PUT", url: `${V1}/certificate_status/${name}`, payload: JSON.stringify({ desired_state: state }), headers: as(admin, { "content-type": "application/json" }) });

  test("enrollments, a signing, refusals and a revoke move the counters and gauges", async () => {
    const before = await scrape();
    const route = (r: string, method: string, status: string) => sample(before, "fleetca_http_requests_total", { route: r, method, status }) ?? 0;
    const putRoute = `${V1}/certificate_request/:name`;
    const certRoute = `${V1}/certificate/:name`;
    const putOk = route(putRoute, "PUT", "200");
    const signedOk = sample(before, "fleetca_ca_operations_total", { action: "signed", outcome: "ok" }) ?? 0;

    // Two agents submit (openssl's CSRs); one is signed by an admin and fetches its certificate.
    assert.equal((await put("agent1.test", csr("agent1.test"))).statusCode, 200);
    assert.equal((await put("agent2.test", csr("agent2.test"))).statusCode, 200);
    assert.equal((await app.inject({ method: "GET", url: `${V1}/certificate/agent1.test` })).statusCode, 404);
    assert.equal((await setState("agent1.test", "signed")).statusCode, 204);
    const cert = await app.inject({ method: "GET", url: `${V1}/certificate/agent1.test` });
    assert.equal(cert.statusCode, 200);
    // Refusals: a CSR for another name, a body that is not a CSR, a second request for a name.
    assert.equal((await put("agent3.test", csr("someone-else.test"))).statusCode, 400);
    assert.equal((await put("agent4.test", "not a CSR")).statusCode, 400);
    assert.equal((await put("agent2.test", csr("agent2.test"))).statusCode, 400);
    assert.equal((await setState("agent1.test", "revoked")).statusCode, 204);

    const now = await scrape();
    const delta = (name: string, labels: Record<string, string>) => (sample(now, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    assert.equal((sample(now, "fleetca_http_requests_total", { route: putRoute, method: "PUT", status: "200" }) ?? 0) - putOk, 2);
    assert.equal(delta("fleetca_http_requests_total", { route: putRoute, method: "PUT", status: "400" }), 3);
    assert.equal(delta("fleetca_http_requests_total", { route: certRoute, method: "GET", status: "404" }), 1);
    assert.equal(delta("fleetca_http_requests_total", { route: certRoute, method: "GET", status: "200" }), 1);
    assert.equal(delta("fleetca_http_request_duration_seconds_count", { route: certRoute, method: "GET" }), 2);
    assert.equal((sample(now, "fleetca_ca_operations_total", { action: "signed", outcome: "ok", by: "certificate" }) ?? 0) - signedOk, 1);
    assert.equal(delta("fleetca_ca_operations_total", { action: "submitted", outcome: "ok", by: "anonymous" }), 2);
    assert.equal(delta("fleetca_ca_operations_total", { action: "revoked", outcome: "ok" }), 1);
    assert.equal(delta("fleetca_ca_refusals_total", { action: "submitted", reason: "hostname-mismatch" }), 1);
    assert.equal(delta("fleetca_ca_refusals_total", { action: "submitted", reason: "invalid-csr" }), 1);
    assert.equal(delta("fleetca_ca_refusals_total", { action: "submitted", reason: "duplicate-cert" }), 1);
    assert.ok(delta("fleetca_store_operation_duration_seconds_count", { operation: "putRequest", result: "ok" }) >= 2);

    // The gauges, read from the CA at scrape time.
    const material = await deps.ca.current();
    assert.equal(sample(now, "fleetca_pending_requests"), 1, "agent2 waits");
    assert.equal(sample(now, "fleetca_crl_entries"), 1);
    assert.equal(sample(now, "fleetca_crl_bytes"), Buffer.byteLength(await deps.ca.crlPem()));
    const caLeft = sample(now, "fleetca_ca_certificate_expiry_seconds")!;
    assert.ok(Math.abs(caLeft - (material.cert.notAfter.getTime() - Date.now()) / 1000) < 120, `CA expiry ${caLeft}`);
    const crlLeft = sample(now, "fleetca_crl_expiry_seconds")!;
    assert.ok(Math.abs(crlLeft - (material.crl.nextUpdate.getTime() - Date.now()) / 1000) < 120, `CRL expiry ${crlLeft}`);
    // Unknown paths are counted under one label, never by their raw path.
    await app.inject({ method: "GET", url: "/no/such/path/12345" });
    const later = await scrape();
    assert.ok(![...later.keys()].some((k) => k.includes("12345")));
    assert.ok((sample(later, "fleetca_http_requests_total", { route: "unmatched" }) ?? 0) >= 1);
  });

  test("who may read: /healthz and /readyz anyone, /metrics admins (and whom auth_rules admits)", async () => {
    const get = (url: string, id?: Identity) => app.inject({ method: "GET", url, headers: as(id) });
    const health = await get("/healthz");
    assert.equal(health.statusCode, 200);
    assert.equal(health.body, "ok\n");
    assert.equal((await get("/readyz")).statusCode, 200);
    const anonymous = await get("/metrics");
    assert.equal(anonymous.statusCode, 403);
    assert.equal(anonymous.body, "Forbidden request: /metrics (method :get). Please see the server logs for details.");
    assert.equal((await get("/metrics", admin)).statusCode, 200);
    // This app's auth_rules open /metrics to any node certificate (a Prometheus scraper's); by default a node is refused (server-matrix).
    assert.equal((await get("/metrics", node)).statusCode, 200);
  });

  test("/readyz: 503 with the reason when the CRL has expired or the store does not answer; 200 again after", async () => {
    const ready = await app.inject({ method: "GET", url: "/readyz" });
    assert.equal(ready.statusCode, 200);
    assert.match(ready.body, /^ready\nstore: ok, answered in \d+ ms \(memory\S*\)\nca key: ok, loaded \(ec\), CA certificate valid until \S+\ncrl: ok, valid until \S+, \d+ entries\n$/);
    clock = new Date(Date.now() + 86400_000 * 365 * 6);
    const stale = await app.inject({ method: "GET", url: "/readyz" });
    clock = undefined;
    assert.equal(stale.statusCode, 503);
    assert.match(stale.body, /^not ready\n/);
    assert.match(stale.body, /\ncrl: FAILED, expired at \S+: agents refuse it; sign it again with `fleetca ca refresh-crl`/);
    broken.now = true;
    const down = await app.inject({ method: "GET", url: "/readyz" });
    broken.now = false;
    assert.equal(down.statusCode, 503);
    assert.match(down.body, /\nstore: FAILED, unreachable: connection refused\n/);
    assert.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 200, "liveness does not depend on the store");
    assert.equal((await app.inject({ method: "GET", url: "/readyz" })).statusCode, 200);
  });

  test("the alert rules file parses, and every metric it uses is one the server exposes", async () => {
    const doc = YAML.parse(fs.readFileSync(ALERTS, "utf8")) as { groups: { name: string; rules: Record<string, unknown>[] }[] };
    assert.ok(Array.isArray(doc.groups) && doc.groups.length > 0);
    const exposed = new Set([...(await scrape()).keys()].map((k) => k.split("{")[0]!.replace(/_(bucket|count|sum)$/, "")));
    const alerts: string[] = [];
    for (const group of doc.groups) {
      assert.equal(typeof group.name, "string");
      for (const rule of group.rules) {
        assert.deepEqual(Object.keys(rule).filter((k) => !["alert", "expr", "for", "labels", "annotations"].includes(k)), [], `unknown keys in ${String(rule.alert)}`);
        assert.match(String(rule.alert), /^[A-Z][A-Za-z0-9]+$/);
        alerts.push(String(rule.alert));
        const expr = String(rule.expr);
        let depth = 0;
        for (const ch of expr) {
          depth += ch === "(" ? 1 : ch === ")" ? -1 : 0;
          assert.ok(depth >= 0, `unbalanced parentheses in ${String(rule.alert)}`);
        }
        assert.equal(depth, 0, `unbalanced parentheses in ${String(rule.alert)}`);
        if (rule.for !== undefined) assert.match(String(rule.for), /^\d+[smhd]$/);
        const labels = rule.labels as Record<string, string>;
        assert.ok(["critical", "warning"].includes(labels?.severity ?? ""), `${String(rule.alert)}: severity critical or warning`);
        const annotations = rule.annotations as Record<string, string>;
        assert.ok(annotations?.summary && annotations.description, `${String(rule.alert)}: summary and description`);
        const used = [...expr.matchAll(/\bfleetca_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ""));
        assert.ok(used.length > 0, `${String(rule.alert)} uses no fleetca metric`);
        for (const name of used) assert.ok(exposed.has(name), `${String(rule.alert)} uses ${name}, which the server does not expose`);
      }
    }
    for (const wanted of ["FleetcaCaCertificateExpiresSoon", "FleetcaCrlExpiresSoon", "FleetcaHttpErrors", "FleetcaNotReady"]) assert.ok(alerts.includes(wanted), wanted);
  });
});

describe("health and metrics on `fleetca server`", { timeout: 60_000 }, () => {
  let server: ServerProcess;
  const dir = tmpDir("fleetca-metrics-");
  before(async () => {
    server = await startServer({ dir });
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const get = (p: string, admin = false) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const read = (f: string) => fs.readFileSync(path.join(server.ssldir, f), "utf8");
      const req = https.get(
        `${server.url}${p}`,
        { ca: read("certs/ca.pem"), servername: "localhost", agent: false, ...(admin ? { cert: read("certs/localhost.pem"), key: read("private_keys/localhost.pem") } : {}) },
        (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
    });

  test("liveness, readiness, and metrics fed by the CA's meter and the timed store", async () => {
    assert.deepEqual(await get("/healthz"), { status: 200, body: "ok\n" });
    const ready = await get("/readyz");
    assert.equal(ready.status, 200, ready.body);
    assert.match(ready.body, /^ready\nstore: ok/);
    assert.equal((await get("/metrics")).status, 403);
    const m = parseExposition((await get("/metrics", true)).body);
    // First boot issued the server's own certificate and the OCSP responder's through the CA's meter.
    assert.ok((sample(m, "fleetca_ca_operations_total", { action: "generated", outcome: "ok" }) ?? 0) >= 1, "the server's own certificate");
    assert.ok((sample(m, "fleetca_store_operation_duration_seconds_count", { operation: "materialVersion" }) ?? 0) >= 1);
    assert.ok((sample(m, "fleetca_http_requests_total", { route: "/healthz", status: "200" }) ?? 0) >= 1);
    assert.ok((sample(m, "fleetca_process_resident_memory_bytes") ?? 0) > 0);
    assert.ok((sample(m, "fleetca_ca_certificate_expiry_seconds") ?? 0) > 86400 * 365);
  });
});
