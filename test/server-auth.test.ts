/** Authorization, client identity, logs and autosign-on submission, in process. */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { AUTOSIGN_ON } from "../src/ca/autosign.js";
import { CA_ERROR_KINDS } from "../src/ca/errors.js";
import { MemoryStore } from "./helpers/memory-store.js";
import { STATUS_BY_KIND } from "../src/server/errors.js";
import type { FastifyReply } from "fastify";
import { sessionPrincipal } from "../src/ca/principal.js";
import { admits, BUILTIN_RULES } from "../src/server/auth.js";
import { buildApp } from "../src/server/app.js";
import { addRoutes, type RouteSpec } from "../src/server/routing.js";
import { allowedRoles } from "../src/config/auth-rules.js";
import { as, EC, makeCsr, makeFixture, TEST_BY, testSettings, type Fixture, type Identity } from "./helpers/server-fixture.js";
import { setupCa } from "../src/ca/setup.js";
import { CertificateAuthority } from "../src/ca/authority.js";
import { generateCertificate } from "../src/ca/generate.js";

const V1 = "/puppet-ca/v1";
let f: Fixture;

before(async () => {
  f = await makeFixture();
});

describe("the rule table", () => {
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

describe("a route without a rule", () => {
  const sneaky = async (_request: unknown, reply: FastifyReply) => reply.code(200).send("secret");

  test("added to the app by other means, it is refused for everyone, admin included, even where a rule opens the path", async () => {
    const app = buildApp(f.deps, {
      extend: (a) => {
        a.get(`${V1}/certificate/sneaky.test`, sneaky);
        a.get("/sneaky", sneaky);
      },
    });
    await app.ready();
    f.logs.length = 0;
    for (const url of [`${V1}/certificate/sneaky.test`, "/sneaky"]) {
      for (const id of [undefined, f.agent, f.admin]) {
        const r = await app.inject({ url, headers: as(id) });
        assert.equal(r.statusCode, 403, `${url} as ${id?.name ?? "anonymous"}`);
        assert.equal(r.body, `Forbidden request: ${url} (method :get). Please see the server logs for details.`);
      }
    }
    assert.ok(f.logs.some((l) => String(l.msg).endsWith(`access to ${V1}/certificate/sneaky.test (method :get) (authenticated: true) denied by rule 'no rule for this route'.`)));
    // The same path is still served by the route that names its rule.
    assert.equal((await app.inject({ url: `${V1}/certificate/agent.test` })).statusCode, 200);
    await app.close();
  });

  test("registered on a surface without naming its rule, or naming one the table does not send it to, the app does not build", async () => {
    const withRoute = (spec: RouteSpec) =>
      buildApp(f.deps, {
        extend: (a) => void a.register(async (p) => addRoutes(p, "/api/v1/extra", [spec], () => sneaky), { prefix: "/api/v1/extra" }),
      });
    const cases: [RouteSpec, RegExp][] = [
      [{ method: "GET", url: "/x" } as RouteSpec, /route GET \/api\/v1\/extra\/x names no authorization rule/],
      [{ method: "GET", url: "/x", rule: "no such rule" }, /names the rule 'no such rule', which is not in src\/server\/auth.ts/],
      [{ method: "POST", url: "/x", rule: "api read" }, /names the rule 'api read', but the table decides POST \/api\/v1\/extra\/x by 'deny all'/],
    ];
    for (const [spec, message] of cases) await assert.rejects(async () => void (await withRoute(spec).ready()), message);
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

describe("auth_rules over roles", () => {
  test("self admits a node for its own name only; a list admits any of its roles", async () => {
    const g = await makeFixture({ authRules: [{ path: `${V1}/certificate_status/`, methods: ["GET"], allow: ["self", "admin"] }] });
    const own = await g.issue("own.test");
    const url = `${V1}/certificate_status/own.test`;
    assert.equal((await g.app.inject({ url, headers: as(own) })).statusCode, 200);
    assert.equal((await g.app.inject({ url, headers: as(g.agent) })).statusCode, 403, "another node");
    assert.equal((await g.app.inject({ url })).statusCode, 403, "anonymous");
    assert.equal((await g.app.inject({ url, headers: as(g.admin) })).statusCode, 200, "admin");
    assert.equal((await g.app.inject({ url: `${V1}/certificate_status/agent.test`, headers: as(own) })).statusCode, 403, "a node reading another's status");
    assert.ok(g.logs.some((l) => String(l.msg).endsWith("denied by rule 'auth_rules[1]'.")));
  });

  test("the older names still work: any is anonymous, authenticated is node", async () => {
    const g = await makeFixture({ authRules: [{ path: `${V1}/certificate_statuses/`, methods: ["GET"], allow: "authenticated" }] });
    assert.equal((await g.app.inject({ url: `${V1}/certificate_statuses/x`, headers: as(g.agent) })).statusCode, 200);
    assert.equal((await g.app.inject({ url: `${V1}/certificate_statuses/x` })).statusCode, 403);
  });

  test("an operator rule can close the JSON API to admins, or open it to nodes", async () => {
    const closed = await makeFixture({ authRules: [{ path: "/api/v1/audit", methods: ["GET"], allow: "deny" }] });
    const r = await closed.app.inject({ url: "/api/v1/audit", headers: as(closed.admin) });
    assert.equal(r.statusCode, 403);
    assert.deepEqual(JSON.parse(r.body), { kind: "forbidden", message: "GET /api/v1/audit is not allowed for admin.test (node, admin): the rule 'auth_rules[1]' admits nobody." });
    assert.equal((await closed.app.inject({ url: "/api/v1/ca", headers: as(closed.admin) })).statusCode, 200);
    const open = await makeFixture({ authRules: [{ path: "/api/v1/ca", methods: ["GET"], allow: ["node"] }] });
    assert.equal((await open.app.inject({ url: "/api/v1/ca", headers: as(open.agent) })).statusCode, 200);
  });

  test("console roles: a viewer reads the JSON API, nothing in Puppet's admin API; a console admin holds all three", () => {
    const rule = (name: string) => BUILTIN_RULES.find((r) => r.name === name)!.allow;
    const viewer = { principal: sessionPrincipal("vera", "viewer", "10.0.0.9") };
    const operator = { principal: sessionPrincipal("otto", "operator", "10.0.0.9") };
    assert.equal(admits(rule("api read"), viewer), true);
    assert.equal(admits(rule("api read"), operator), true, "an operator holds viewer too");
    assert.equal(admits(rule("cert status"), viewer), false);
    assert.equal(admits(rule("expirations"), viewer), false, "a console user is not a node");
    assert.equal(admits(rule("cert status"), { principal: sessionPrincipal("ada", "admin", "10.0.0.9") }), true);
    assert.equal(admits(["self"], { principal: sessionPrincipal("agent.test", "admin", "x"), subject: "agent.test" }), false, "self is for nodes");
  });

  test("the setting's values are checked, and the message lists the roles", () => {
    assert.throws(() => testSettings({ authRules: [{ path: "/x", methods: ["GET"], allow: "everyone" }] }), /allow must be one of anonymous, node, self, admin, viewer, operator, deny/);
    assert.throws(() => testSettings({ authRules: [{ path: "/x", methods: ["GET"], allow: ["self", "nobody"] }] }), /not "nobody"/);
    assert.throws(() => testSettings({ authRules: [{ path: "/x", methods: ["GET"], allow: [] }] }), /allow must name at least one/);
    const s = testSettings({ authRules: [{ path: "/x", methods: ["GET"], allow: ["viewer", "operator"] }, { path: "/y", methods: "get", allow: "any" }] });
    assert.deepEqual(s.authRules.map((r) => allowedRoles(r.allow)), [["viewer", "operator"], ["anonymous"]]);
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
    await f.app.inject({ method: "PUT", url: `${V1}/certificate_request/dropped.test`, payload: (await makeCsr("dropped.test")).csrPem });
    await f.app.inject({ method: "DELETE", url: `${V1}/certificate_request/dropped.test`, headers: as(f.admin) });
    const audit = f.logs.filter((l) => l.msg === "audit").map((l) => [l.event, l.name, l.who, l.from]);
    assert.deepEqual(audit, [
      ["submitted", "audit.test", "anonymous", "127.0.0.1"],
      ["signed", "audit.test", "admin.test", "127.0.0.1"],
      ["submitted", "dropped.test", "anonymous", "127.0.0.1"],
      ["rejected", "dropped.test", "admin.test", "127.0.0.1"],
    ]);
    const signed = f.logs.find((l) => l.msg === "audit" && l.event === "signed")!;
    assert.match(String(signed.serial), /^[0-9A-F]+$/, "the serial in hex, as Puppet prints it");
    assert.match(String(f.logs.find((l) => l.event === "submitted")!.detail), /autosign: /, "the autosign decision is in the submission's record");
  });

  test("a refusal is a record too: outcome and reason", async () => {
    f.logs.length = 0;
    await f.app.inject({ method: "PUT", url: `${V1}/certificate_request/agent.test`, payload: (await makeCsr("agent.test")).csrPem });
    const line = f.logs.find((l) => l.msg === "audit")!;
    assert.deepEqual([line.event, line.name, line.who, line.outcome, line.reason], [
      "submitted", "agent.test", "anonymous", "refused", "agent.test already has a signed certificate; ignoring certificate request",
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
    const audit = g.logs.filter((l) => l.msg === "audit" && l.name !== "admin.test" && l.name !== "agent.test").map((l) => [l.event, l.name, l.who, l.from, l.outcome ?? "ok"]);
    assert.deepEqual(audit.slice(0, 1), [["signed", "auto.test", "autosign", "127.0.0.1", "ok"]], "an autosigned submission is one record, by autosign");
    assert.ok(audit.some(([event, name, , , outcome]) => event === "signed" && name === "autobad.test" && outcome === "refused"));
  });
});
