/** Authorization, client identity, logs and autosign-on submission, in process. */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { AUTOSIGN_ON } from "../src/ca/autosign.js";
import { CA_ERROR_KINDS } from "../src/ca/errors.js";
import { MemoryStore } from "./helpers/memory-store.js";
import { STATUS_BY_KIND } from "../src/server/errors.js";
import { BUILTIN_RULES } from "../src/server/auth.js";
import { as, EC, makeCsr, makeFixture, TEST_BY, type Fixture, type Identity } from "./helpers/server-fixture.js";
import { setupCa } from "../src/ca/setup.js";
import { CertificateAuthority } from "../src/ca/authority.js";
import { generateCertificate } from "../src/ca/generate.js";

const V1 = "/puppet-ca/v1";
let f: Fixture;

before(async () => {
  f = await makeFixture();
});

type Who = "anonymous" | "agent" | "admin";
const who = (w: Who): Identity | undefined => (w === "anonymous" ? undefined : w === "agent" ? f.agent : f.admin);

/** [method, url, lowest caller allowed] for every endpoint; the rest must get Puppet's 403. */
const MATRIX: [string, string, Who][] = [
  ["GET", `${V1}/certificate/ca`, "anonymous"],
  ["GET", `${V1}/certificate_revocation_list/ca`, "anonymous"],
  ["GET", `${V1}/certificate_request/nosuch.test`, "anonymous"],
  ["DELETE", `${V1}/certificate_request/nosuch.test`, "admin"],
  ["GET", `${V1}/certificate_status/agent.test`, "admin"],
  ["DELETE", `${V1}/certificate_status/nosuch.test`, "admin"],
  ["GET", `${V1}/certificate_statuses/any`, "admin"],
  ["GET", `${V1}/expirations`, "agent"],
  ["POST", `${V1}/sign`, "admin"],
  ["POST", `${V1}/sign/all`, "admin"],
  ["PUT", `${V1}/clean`, "admin"],
  ["POST", `${V1}/generate/nosuch.test`, "admin"],
  ["GET", "/status/v1/simple", "anonymous"],
];
const RANK: Record<Who, number> = { anonymous: 0, agent: 1, admin: 2 };

describe("the rule table", () => {
  test("every endpoint admits exactly the callers its rule names", async () => {
    for (const [method, url, lowest] of MATRIX) {
      for (const caller of ["anonymous", "agent", "admin"] as Who[]) {
        // Bodies are invalid on purpose: only whether auth let the request through matters here.
        const r = await f.app.inject({ method: method as "GET", url, headers: as(who(caller)), payload: method === "GET" || method === "DELETE" ? undefined : "{}" });
        const denied = r.statusCode === 403 && r.body.startsWith("Forbidden request:");
        assert.equal(denied, RANK[caller] < RANK[lowest], `${caller} ${method} ${url} -> ${r.statusCode} ${r.body.slice(0, 60)}`);
      }
    }
  });

  test("a denial is Puppet's exact 403: body, no Content-Type, and a log line naming the rule", async () => {
    const r = await f.app.inject({ url: `${V1}/certificate_status/agent1.example.com` });
    assert.equal(r.statusCode, 403);
    assert.equal(r.headers["content-type"], undefined);
    assert.equal(r.body, "Forbidden request: /puppet-ca/v1/certificate_status/agent1.example.com (method :get). Please see the server logs for details.");
    assert.ok(f.logs.some((l) => l.msg === "Forbidden request: 127.0.0.1 access to /puppet-ca/v1/certificate_status/agent1.example.com (method :get) (authenticated: false) denied by rule 'cert status'."));
  });

  test("a denied request changes nothing", async () => {
    const victim = await f.issue("untouchable.test");
    for (const id of [undefined, f.agent]) {
      const r = await f.app.inject({ method: "PUT", url: `${V1}/clean`, headers: as(id, { "content-type": "application/json" }), payload: '{"certnames":["untouchable.test"]}' });
      assert.equal(r.statusCode, 403);
    }
    assert.equal((await f.app.inject({ url: `${V1}/certificate/${victim.name}` })).body, victim.certPem);
    assert.equal((await f.ca.revokedSerials()).size, 0);
  });

  test("unknown paths, other methods and other CRL names fall to 'deny all'", async () => {
    const cases: [string, string][] = [
      ["POST", `${V1}/certificate_request/post.test`],
      ["POST", `${V1}/certificate_status`],
      ["GET", `${V1}/certificate_revocation_list/whatever`],
      ["GET", "/puppet-ca/v2/certificate/ca"],
      ["GET", "/anything"],
    ];
    for (const [method, url] of cases) {
      const r = await f.app.inject({ method: method as "GET", url, headers: as(f.admin) });
      assert.equal(r.statusCode, 403, url);
      assert.equal(r.body, `Forbidden request: ${url} (method :${method.toLowerCase()}). Please see the server logs for details.`);
    }
  });

  test("every CaError kind has an HTTP status; the table ends with deny all", () => {
    for (const kind of CA_ERROR_KINDS) assert.ok(STATUS_BY_KIND[kind] >= 400, kind);
    assert.deepEqual(BUILTIN_RULES.at(-1), { name: "deny all", match: "prefix", path: "/", methods: "any", allow: ["deny"] });
  });
});

describe("client identity", () => {
  test("a revoked admin certificate is refused where a certificate is needed, and is anonymous elsewhere", async () => {
    const ex = await f.issue("ex-admin.test", { cliAuth: true });
    assert.equal((await f.app.inject({ url: `${V1}/certificate_statuses/any`, headers: as(ex) })).statusCode, 200);
    await f.ca.revoke([ex.name], TEST_BY);
    const r = await f.app.inject({ url: `${V1}/certificate_statuses/any`, headers: as(ex) });
    assert.equal(r.statusCode, 403);
    assert.equal((await f.app.inject({ url: `${V1}/expirations`, headers: as(ex) })).statusCode, 403);
    assert.equal((await f.app.inject({ url: `${V1}/certificate/ca`, headers: as(ex) })).statusCode, 200);
    assert.ok(f.logs.some((l) => String(l.msg).includes("(client certificate revoked) denied by rule 'cert statuses'")));
  });

  test("a certificate from another CA, or one TLS did not verify, authenticates nobody", async () => {
    const otherStore = new MemoryStore();
    await setupCa(otherStore, { caName: "Puppet CA: other", key: EC, caTtl: 86400 * 365, now: new Date() });
    const other = new CertificateAuthority({ store: otherStore, settings: f.settings });
    const g = await generateCertificate(other, "admin.test", { by: TEST_BY, key: EC, cliAuth: true });
    const foreign: Identity = { name: "admin.test", certPem: g.certPem, keyPem: g.keyPem, der: g.cert.der };
    assert.equal((await f.app.inject({ url: `${V1}/certificate_statuses/any`, headers: as(foreign) })).statusCode, 403);
    assert.equal((await f.app.inject({ url: `${V1}/expirations`, headers: as(f.admin, { "x-test-tls-verified": "0" }) })).statusCode, 403);
    assert.equal((await f.app.inject({ url: `${V1}/expirations`, headers: { "x-test-peer": Buffer.from("junk").toString("base64") } })).statusCode, 403);
  });

  test("admin_allow_list makes a plain certificate admin; auth_rules extend the table", async () => {
    const g = await makeFixture({
      adminAllowList: ["agent.test"],
      authRules: [{ path: "/puppet-ca/v1/certificate_status/", methods: ["GET"], allow: "any" }],
    });
    assert.equal((await g.app.inject({ url: `${V1}/certificate_statuses/any`, headers: as(g.agent) })).statusCode, 200);
    assert.equal((await g.app.inject({ url: `${V1}/certificate_status/agent.test` })).statusCode, 200);
    assert.equal((await g.app.inject({ method: "DELETE", url: `${V1}/certificate_status/agent.test` })).statusCode, 403);
  });
});

describe("logs", () => {
  test("one line per request: method, path, status, ms, client certname or '-'", async () => {
    f.logs.length = 0;
    await f.app.inject({ url: `${V1}/certificate/ca?x=1` });
    await f.app.inject({ url: `${V1}/expirations`, headers: as(f.agent) });
    const lines = f.logs.filter((l) => l.msg === "request");
    assert.equal(lines.length, 2);
    assert.deepEqual({ ...lines[0], ms: 0, time: 0, pid: 0 }, { level: 30, time: 0, pid: 0, msg: "request", method: "GET", path: `${V1}/certificate/ca`, status: 200, ms: 0, client: "-" });
    assert.equal(lines[1]!.client, "agent.test");
    assert.equal(typeof lines[0]!.ms, "number");
  });

  test("one line per state change, with who and from where", async () => {
    f.logs.length = 0;
    await f.app.inject({ method: "PUT", url: `${V1}/certificate_request/audit.test`, payload: (await makeCsr("audit.test")).csrPem });
    await f.app.inject({
      method: "PUT", url: `${V1}/certificate_status/audit.test`, payload: '{"desired_state":"signed"}', headers: as(f.admin, { "content-type": "application/json" }),
    });
    const audit = f.logs.filter((l) => l.msg === "audit").map((l) => [l.event, l.name, l.who, l.from]);
    assert.deepEqual(audit, [
      ["submitted", "audit.test", "anonymous", "127.0.0.1"],
      ["signed", "audit.test", "admin.test", "127.0.0.1"],
    ]);
  });
});

describe("autosign on", () => {
  test("a CSR is signed on submission; a policy failure answers 400 and stays pending", async () => {
    const g = await makeFixture({ autosign: true }, AUTOSIGN_ON);
    const put = async (name: string, opts: Parameters<typeof makeCsr>[1] = {}) =>
      g.app.inject({ method: "PUT", url: `${V1}/certificate_request/${name}`, payload: (await makeCsr(name, opts)).csrPem });
    assert.equal((await put("auto.test")).statusCode, 200);
    assert.equal((await g.app.inject({ url: `${V1}/certificate/auto.test` })).statusCode, 200);
    const bad = await put("autobad.test", { extensionRequests: [{ oid: "1.2.3.4", value: "x" }] });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.headers["content-type"], "text/plain;charset=utf-8");
    assert.equal(bad.body, "Found extensions that are not permitted: 1.2.3.4");
    assert.equal((await g.app.inject({ url: `${V1}/certificate_request/autobad.test` })).statusCode, 200, "left pending");
  });
});
