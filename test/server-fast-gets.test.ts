/**
 * The agents' three GETs answered beside fastify (src/server/puppet-ca/fast-gets.ts) say
 * exactly what fastify's routes say: the same status, body and Puppet headers, over a real
 * socket, against the same request through fastify alone (inject). What the lane does not
 * answer (a missing certificate, a query string, a denial by the rules) still gets
 * fastify's answer, and what it answers is logged and counted like any request.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CertificateAuthority } from "../src/ca/authority.js";
import { generateCertificate } from "../src/ca/generate.js";
import { Ssldir } from "../src/host/ssldir.js";
import type { ServerDeps } from "../src/server/deps.js";
import { ensureCa, ensureServerIdentity } from "../src/server/identity.js";
import { listen, type RunningServer } from "../src/server/listen.js";
import { fastGets } from "../src/server/puppet-ca/fast-gets.js";
import { auditLogger } from "../src/server/log.js";
import { ServerMetrics } from "../src/server/ops/metrics.js";
import { FileStore } from "../src/store/file/index.js";
import { httpsRequest } from "./helpers/https-client.js";
import { tmpDir } from "./helpers/openssl.js";
import { EC, memoryLogger, TEST_BY, testSettings } from "./helpers/server-fixture.js";

const V1 = "/puppet-ca/v1";
const dir = tmpDir("fleetca-fast-gets-");
const cadir = path.join(dir, "ca");
const settings = testSettings({ cadir, certname: "localhost", keyType: "ec" });
const { logs, log } = memoryLogger();
const metrics = new ServerMetrics({ processMetrics: false });
let deps: ServerDeps;
let server: RunningServer;
let caPem: string;

before(async () => {
  const store = new FileStore(cadir);
  await ensureCa(store, settings);
  const ca = new CertificateAuthority({ store, settings, observe: auditLogger(log) });
  const id = await ensureServerIdentity(ca, settings, new Ssldir(path.join(dir, "ssl")), "testhost");
  caPem = await ca.caCertificatePem();
  await generateCertificate(ca, "node1.test", { by: TEST_BY, key: EC });
  deps = { ca, settings, log, metrics };
  server = await listen(deps, { keyPem: id.keyPem, certPem: id.certPem, caPem }, { host: "127.0.0.1", port: 0 });
});

after(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const overSocket = (p: string, headers: Record<string, string> = {}) => httpsRequest(`${server.url}${p}`, { ca: caPem, servername: "localhost", headers });
const throughFastify = async (p: string, headers: Record<string, string> = {}) => {
  const r = await server.app.inject({ method: "GET", url: p, headers });
  return { status: r.statusCode, headers: r.headers, body: r.body };
};
const SAME = ["content-type", "content-length", "x-puppet-version", "last-modified"];
const view = (r: { status: number; body: string; headers: Record<string, unknown> }): Record<string, unknown> => ({
  status: r.status,
  body: r.body,
  ...Object.fromEntries(SAME.map((h) => [h, r.headers[h] === undefined ? undefined : String(r.headers[h])])),
});

describe("the agents' GETs outside fastify", () => {
  const future = new Date(Date.now() + 3_600_000).toUTCString();
  const past = "Mon, 01 Jan 2001 00:00:00 GMT";
  const cases: [string, string, Record<string, string>?][] = [
    ["the CA certificate", `${V1}/certificate/ca`],
    ["the CA certificate, unchanged since the client's copy (304)", `${V1}/certificate/ca`, { "if-modified-since": future }],
    ["the CA certificate, changed since (200)", `${V1}/certificate/ca`, { "if-modified-since": past }],
    ["the CRL", `${V1}/certificate_revocation_list/ca`],
    ["the CRL, unchanged since the client's copy (304)", `${V1}/certificate_revocation_list/ca`, { "if-modified-since": future }],
    ["a signed certificate", `${V1}/certificate/node1.test`],
  ];
  for (const [what, url, headers] of cases) {
    test(`${what}: answered by the lane, as fastify answers it`, async () => {
      const before = server.fastAnswered();
      const fast = view(await overSocket(url, headers));
      assert.equal(server.fastAnswered(), before + 1, "the lane answered");
      assert.deepEqual(fast, view(await throughFastify(url, headers)));
      assert.ok(fast.status === 200 || fast.status === 304);
      assert.equal(fast["x-puppet-version"], "7.23.0");
    });
  }

  const passed: [string, string][] = [
    ["a certificate that is not there (404)", `${V1}/certificate/missing.test`],
    ["a query string", `${V1}/certificate/ca?environment=production`],
    ["another CRL than the CA's (the rule admits only ca)", `${V1}/certificate_revocation_list/other`],
    ["a name Puppet's router refuses", `${V1}/certificate/bad%20name`],
  ];
  for (const [what, url] of passed) {
    test(`${what}: left to fastify, same answer`, async () => {
      const before = server.fastAnswered();
      const got = view(await overSocket(url));
      assert.equal(server.fastAnswered(), before, "the lane passed it on");
      assert.deepEqual(got, view(await throughFastify(url)));
    });
  }

  test("a certificate another tool replaced or removed on disk is served as it is now, not as this server wrote it", async () => {
    const url = `${V1}/certificate/replaced.test`;
    const first = await generateCertificate(deps.ca, "replaced.test", { by: TEST_BY, key: EC });
    assert.equal((await overSocket(url)).body, first.certPem);
    const other = await generateCertificate(deps.ca, "other.test", { by: TEST_BY, key: EC });
    const file = path.join(cadir, "signed", "replaced.test.pem");
    fs.writeFileSync(`${file}.new`, other.certPem);
    fs.renameSync(`${file}.new`, file);
    assert.equal((await overSocket(url)).body, other.certPem);
    await new Promise((r) => setTimeout(r, 20)); // another tool's write comes a clock tick later
    fs.writeFileSync(file, first.certPem); // in place, same size or not
    assert.equal((await overSocket(url)).body, first.certPem);
    fs.unlinkSync(file);
    assert.equal((await overSocket(url)).status, 404);
  });

  test("a rule that denies the path is obeyed: fastify's 403, and nothing answered by the lane", async () => {
    const open = deps.settings;
    deps.settings = testSettings({ cadir, certname: "localhost", keyType: "ec", authRules: [{ path: `${V1}/certificate/`, methods: ["GET"], allow: "deny" }] });
    try {
      const before = server.fastAnswered();
      const lines = logs.length;
      const r = await overSocket(`${V1}/certificate/node1.test`);
      assert.equal(r.status, 403);
      assert.equal(r.body, "Forbidden request: /puppet-ca/v1/certificate/node1.test (method :get). Please see the server logs for details.");
      assert.equal(server.fastAnswered(), before);
      assert.ok(logs.slice(lines).some((l) => l.rule === "auth_rules[1]" && /access to \/puppet-ca\/v1\/certificate\/node1\.test .*denied by rule 'auth_rules\[1\]'/.test(String(l.msg))));
    } finally {
      deps.settings = open;
    }
  });

  test("each answer is logged and counted as app.ts does for fastify's", async () => {
    const count = async () => Number(/fleetca_http_requests_total\{route="\/puppet-ca\/v1\/certificate_revocation_list\/:name",method="GET",status="200"\} (\d+)/.exec((await metrics.scrape()).body)?.[1] ?? 0);
    const before = await count();
    const lines = logs.length;
    assert.equal((await overSocket(`${V1}/certificate_revocation_list/ca`)).status, 200);
    assert.equal(await count(), before + 1);
    const line = logs.slice(lines).find((l) => l.msg === "request");
    assert.ok(line, "a request line");
    assert.deepEqual({ ...line, time: undefined, pid: undefined, ms: undefined }, { level: 30, time: undefined, pid: undefined, msg: "request", method: "GET", path: `${V1}/certificate_revocation_list/ca`, status: 200, ms: undefined, client: "-" });
    assert.equal(typeof line.ms, "number");
  });

  test("a failure after the answer is chosen closes that connection and is logged; the server keeps serving", async () => {
    const failing = new ServerMetrics({ processMetrics: false });
    failing.observe = () => {
      throw new Error("metrics registry closed");
    };
    const lane = fastGets({ ...deps, metrics: failing, peer: () => undefined });
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on("unhandledRejection", onUnhandled);
    try {
      let destroyed = false;
      let fellBack = false;
      const req = { method: "GET", url: `${V1}/certificate/ca`, headers: {}, socket: { remoteAddress: "127.0.0.1" } } as unknown as IncomingMessage;
      const res = { writeHead: () => res, end: () => res, destroy: () => void (destroyed = true) } as unknown as ServerResponse;
      const lines = logs.length;
      assert.equal(lane(req, res, () => void (fellBack = true)), true);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(destroyed, true, "the connection is closed");
      assert.equal(fellBack, false, "not answered twice");
      assert.deepEqual(unhandled, []);
      const line = logs.slice(lines).find((l) => l.level === 50);
      assert.equal(line?.error, "metrics registry closed");
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    assert.equal((await overSocket(`${V1}/certificate/ca`)).status, 200);
  });
});
