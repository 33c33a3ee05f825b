/**
 * Every route of the surfaces (Puppet's CA API, ops, the JSON API, OCSP) against every kind of
 * caller (none; the node's own certificate; another node's; admin by pp_cli_auth and by
 * admin_allow_list; revoked; the node's certificate replaced by a renewal; another CA's with the
 * node's subject and pp_cli_auth; expired; not yet valid), each answer checked against the rule
 * table. The expectation is derived from the
 * table by the roles each kind of caller must hold (written here, independently of the
 * server's own role check), and a few cells are also written out by hand, so that a table and
 * a server that drift together still fail.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { AuthRole } from "../src/config/auth-rules.js";
import { API_PREFIX } from "../src/server/api/index.js";
import { API_ROUTES } from "../src/server/api/routes.js";
import { BUILTIN_RULES, ruleFor, type Rule } from "../src/server/auth.js";
import { buildApp } from "../src/server/app.js";
import { CONSOLE_PREFIX, CONSOLE_ROUTES } from "../src/server/console/index.js";
import { OCSP_ROUTES } from "../src/server/ocsp/index.js";
import { OPS_ROUTES } from "../src/server/ops/index.js";
import { PUPPET_CA_PREFIX } from "../src/server/puppet-ca/index.js";
import { PUPPET_CA_ROUTES } from "../src/server/puppet-ca/routes/index.js";
import type { RouteSpec } from "../src/server/routing.js";
import { parseCertificateDer, certToPem } from "../src/pki/certificate.js";
import { as, expiredIdentity, foreignIdentity, makeFixture, notYetValidIdentity, TEST_BY, type Fixture, type Identity } from "./helpers/server-fixture.js";

const CALLERS = ["none", "own", "other", "revoked", "foreign", "expired", "notYetValid", "renewedAway", "admin", "adminListed"] as const;
type CallerKind = (typeof CALLERS)[number];

/** The roles each kind of caller must end up with (the node's own is the :name of the path). */
const HOLDS: Record<CallerKind, readonly AuthRole[]> = {
  none: [],
  own: ["node", "self"],
  other: ["node"],
  // These four present pp_cli_auth certificates, and still must be no one.
  revoked: [],
  foreign: [],
  expired: [],
  notYetValid: [],
  // The node's certificate before its renewal: still valid, not revoked, so still the node
  // (docs/server.md, "Client certificates and revocation") until it expires or is revoked.
  renewedAway: ["node", "self"],
  admin: ["node", "admin"],
  // A plain certificate whose name is on admin_allow_list.
  adminListed: ["node", "admin"],
};

const expectedAllowed = (rule: Rule, kind: CallerKind): boolean =>
  rule.allow.some((role) => role === "anonymous" || (role !== "deny" && HOLDS[kind].includes(role)));

const NODE = "node.test";

interface Cell {
  surface: "puppet-ca" | "ops" | "api" | "ocsp" | "console";
  method: string;
  url: string;
  rule: string;
}

/** A concrete request for each route: the node's own name for :name, a serial, the CA service. */
function cellsOf(surface: Cell["surface"], prefix: string, specs: readonly RouteSpec[]): Cell[] {
  return specs.map((s) => {
    const path = s.url === "/certificate_revocation_list/:name" ? "/certificate_revocation_list/ca" : s.url;
    const url = prefix + path.replace(":name", NODE).replace(":serial", "2").replace(":service", "ca");
    return { surface, method: s.method, url, rule: s.rule };
  });
}

const CELLS: Cell[] = [
  ...cellsOf("puppet-ca", PUPPET_CA_PREFIX, PUPPET_CA_ROUTES),
  ...cellsOf("ops", "", OPS_ROUTES),
  ...cellsOf("api", API_PREFIX, API_ROUTES),
  ...cellsOf("ocsp", "", OCSP_ROUTES),
  ...cellsOf("console", CONSOLE_PREFIX, CONSOLE_ROUTES),
];

let f: Fixture;
const ids = {} as Record<Exclude<CallerKind, "none">, Identity>;

before(async () => {
  f = await makeFixture({ adminAllowList: ["listed.test"] });
  // The node renews (certificate_renewal's path): the first certificate is renewed away.
  ids.renewedAway = await f.issue(NODE);
  const renewed = await f.ca.renew(parseCertificateDer(ids.renewedAway.der), TEST_BY);
  ids.own = { name: NODE, certPem: certToPem(renewed.der), keyPem: ids.renewedAway.keyPem, der: renewed.der };
  ids.other = await f.issue("other.test");
  ids.admin = f.admin;
  ids.adminListed = await f.issue("listed.test");
  ids.revoked = await f.issue("revoked.test", { cliAuth: true });
  await f.ca.revoke([ids.revoked.name], TEST_BY);
  // Another CA's certificate for the node's own name, claiming admin.
  ids.foreign = await foreignIdentity(NODE, { cliAuth: true });
  ids.expired = await expiredIdentity(f.ca, "expired.test", { cliAuth: true });
  ids.notYetValid = await notYetValidIdentity(f.ca, "future.test", { cliAuth: true });
});

/** Bodies that do nothing harmful: the matrix is about who gets past the rule, not what follows. */
const payloadFor = (method: string): string | undefined => (method === "GET" || method === "DELETE" ? undefined : "{}");

async function call(cell: Cell, kind: CallerKind) {
  const headers = as(kind === "none" ? undefined : ids[kind], { "content-type": "application/json" });
  return f.app.inject({ method: cell.method as "GET", url: cell.url, headers, payload: payloadFor(cell.method) });
}

function denied(cell: Cell, r: { statusCode: number; body: string; headers: Record<string, unknown> }): boolean {
  if (cell.surface === "api") {
    // Refused by the rule: 403 with a role, 401 without a session or certificate (a handler's own 401 names no rule).
    const body = JSON.parse(r.body) as { kind?: string; message?: string };
    return (r.statusCode === 403 && body.kind === "forbidden") || (r.statusCode === 401 && body.kind === "unauthenticated" && / is not allowed for /.test(body.message ?? ""));
  }
  if (r.statusCode !== 403) return false;
  return r.body.startsWith("Forbidden request:") && r.headers["content-type"] === undefined;
}

describe("the route x caller matrix", () => {
  test("the test covers every route the app registers, each under the rule it names", async () => {
    const registered: string[] = [];
    const app = buildApp(f.deps, { extend: (a) => a.addHook("onRoute", (r) => void registered.push(...[r.method].flat().filter((m) => m !== "HEAD").map((m) => `${m} ${r.url}`))) });
    await app.ready();
    const fromTables = [
      ...PUPPET_CA_ROUTES.map((r) => `${r.method} ${PUPPET_CA_PREFIX}${r.url}`),
      ...OPS_ROUTES.map((r) => `${r.method} ${r.url}`),
      ...API_ROUTES.map((r) => `${r.method} ${API_PREFIX}${r.url}`),
      ...OCSP_ROUTES.map((r) => `${r.method} ${r.url}`),
      // "/" is registered as /console (and answers /console/ too).
      ...CONSOLE_ROUTES.map((r) => `${r.method} ${CONSOLE_PREFIX}${r.url === "/" ? "" : r.url}`),
    ];
    assert.deepEqual([...registered].sort(), [...fromTables].sort());
    for (const cell of CELLS) assert.equal(ruleFor(BUILTIN_RULES, cell.method, cell.url).name, cell.rule, `${cell.method} ${cell.url}`);
    await app.close();
  });

  test("every route answers every kind of caller as its rule says", async () => {
    const failures: string[] = [];
    for (const cell of CELLS) {
      const rule = BUILTIN_RULES.find((r) => r.name === cell.rule)!;
      for (const kind of CALLERS) {
        const r = await call(cell, kind);
        const wasDenied = denied(cell, r);
        const allowed = expectedAllowed(rule, kind);
        if (wasDenied === allowed) failures.push(`${kind} ${cell.method} ${cell.url}: ${r.statusCode} ${r.body.slice(0, 80)} (rule '${rule.name}' admits ${rule.allow.join(", ")})`);
        if (r.statusCode >= 500) failures.push(`${kind} ${cell.method} ${cell.url}: ${r.statusCode} ${r.body.slice(0, 80)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test("key cells, written out", async () => {
    const status = async (kind: CallerKind, method: string, url: string) =>
      (await call({ surface: url.startsWith("/api/") ? "api" : "puppet-ca", method, url, rule: "" }, kind)).statusCode;
    // Anyone fetches the CA certificate and submits a CSR (the body here is not a CSR: 400, not 403).
    for (const kind of CALLERS) assert.equal(await status(kind, "GET", `${PUPPET_CA_PREFIX}/certificate/ca`), 200, kind);
    assert.equal(await status("none", "PUT", `${PUPPET_CA_PREFIX}/certificate_request/fresh.test`), 400);
    // expirations: valid node certificates only; a revoked, foreign, expired or future admin certificate is no one.
    for (const [kind, code] of [
      ["none", 403], ["own", 200], ["other", 200], ["admin", 200], ["adminListed", 200], ["renewedAway", 200],
      ["revoked", 403], ["foreign", 403], ["expired", 403], ["notYetValid", 403],
    ] as const) {
      assert.equal(await status(kind, "GET", `${PUPPET_CA_PREFIX}/expirations`), code, kind);
    }
    // A node may not read even its own status (Puppet's default); an admin may.
    assert.equal(await status("own", "GET", `${PUPPET_CA_PREFIX}/certificate_status/${NODE}`), 403);
    assert.equal(await status("admin", "GET", `${PUPPET_CA_PREFIX}/certificate_status/${NODE}`), 200);
    // The JSON API: admin (or the console's viewer) only; 401 without a usable certificate or session.
    for (const [kind, code] of [
      ["none", 401], ["own", 403], ["renewedAway", 403], ["revoked", 401], ["foreign", 401], ["expired", 401], ["notYetValid", 401], ["admin", 200], ["adminListed", 200],
    ] as const) {
      assert.equal(await status(kind, "GET", `${API_PREFIX}/ca`), code, kind);
    }
    // Metrics: admins only by default; health and readiness: anyone.
    for (const kind of CALLERS) {
      assert.equal(await status(kind, "GET", "/metrics"), kind === "admin" || kind === "adminListed" ? 200 : 403, kind);
      assert.equal(await status(kind, "GET", "/healthz"), 200, kind);
    }
    assert.equal(await status("admin", "POST", `${API_PREFIX}/ca`), 403, "no rule opens writes on the API yet");
  });

  test("a refused certificate is named in the denial's log line", async () => {
    f.logs.length = 0;
    for (const kind of ["revoked", "foreign", "expired", "notYetValid"] as const) await call({ surface: "puppet-ca", method: "GET", url: `${PUPPET_CA_PREFIX}/expirations`, rule: "" }, kind);
    const lines = f.logs.filter((l) => String(l.msg).startsWith("Forbidden request:")).map((l) => String(l.msg));
    assert.deepEqual(lines, [
      "Forbidden request: 127.0.0.1 access to /puppet-ca/v1/expirations (method :get) (authenticated: false) (client certificate revoked) denied by rule 'expirations'.",
      "Forbidden request: 127.0.0.1 access to /puppet-ca/v1/expirations (method :get) (authenticated: false) (client certificate issued by another CA) denied by rule 'expirations'.",
      "Forbidden request: 127.0.0.1 access to /puppet-ca/v1/expirations (method :get) (authenticated: false) (client certificate expired) denied by rule 'expirations'.",
      "Forbidden request: 127.0.0.1 access to /puppet-ca/v1/expirations (method :get) (authenticated: false) (client certificate not yet valid) denied by rule 'expirations'.",
    ]);
  });

  test("a certificate renewed away counts until it is revoked (by serial, or by name with its renewal)", async () => {
    const expirations = { surface: "puppet-ca", method: "GET", url: `${PUPPET_CA_PREFIX}/expirations`, rule: "" } as const;
    assert.equal((await call(expirations, "renewedAway")).statusCode, 200);
    // It may not mint another certificate: only the one the CA holds now is renewed.
    const renewal = await call({ surface: "puppet-ca", method: "POST", url: `${PUPPET_CA_PREFIX}/certificate_renewal`, rule: "" }, "renewedAway");
    assert.equal(renewal.statusCode, 409, renewal.body);
    await f.ca.revokeSerials([parseCertificateDer(ids.renewedAway.der).serial], TEST_BY);
    assert.equal((await call(expirations, "renewedAway")).statusCode, 403);
    assert.equal((await call(expirations, "own")).statusCode, 200, "the current certificate is untouched");
    // Revoking by name reaches both: the current certificate and the one renewed away.
    const before = await f.issue("twice.test");
    const after = await f.ca.renew(parseCertificateDer(before.der), TEST_BY);
    const get = (der: Buffer) => f.app.inject({ method: "GET", url: `${PUPPET_CA_PREFIX}/expirations`, headers: { "x-test-peer": der.toString("base64") } });
    assert.deepEqual([(await get(before.der)).statusCode, (await get(after.der)).statusCode], [200, 200]);
    await f.ca.revoke(["twice.test"], TEST_BY);
    assert.deepEqual([(await get(before.der)).statusCode, (await get(after.der)).statusCode], [403, 403]);
  });
});
