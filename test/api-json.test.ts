/** The JSON API under /api/v1 in process: each endpoint, its paging and filters, and its JSON errors. */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { as, makeCsr, makeFixture, putCsr, TEST_BY, V1, type Fixture, type Identity } from "./helpers/server-fixture.js";

let f: Fixture;

interface Json {
  status: number;
  type: string;
  body: Record<string, unknown> & { items?: Record<string, unknown>[] };
}

/** As the admin certificate by default; null: without a certificate. */
async function get(url: string, id: Identity | null = f.admin): Promise<Json> {
  const r = await f.app.inject({ url, headers: as(id ?? undefined) });
  return { status: r.statusCode, type: String(r.headers["content-type"]), body: JSON.parse(r.body) as Json["body"] };
}

const names = (j: Json) => (j.body.items ?? []).map((i) => i.name);
const hex = (serial: bigint) => serial.toString(16).toUpperCase();

async function submit(name: string) {
  assert.equal((await putCsr(f, name, (await makeCsr(name)).csrPem)).statusCode, 200);
}

async function setState(name: string, desired: "signed" | "revoked", ttl?: number) {
  const r = await f.app.inject({
    method: "PUT", url: `${V1}/certificate_status/${name}`, headers: as(f.admin, { "content-type": "application/json" }),
    payload: JSON.stringify({ desired_state: desired, ...(ttl ? { cert_ttl: ttl } : {}) }),
  });
  assert.equal(r.statusCode, 204, r.body);
}

before(async () => {
  f = await makeFixture();
  // Pending: req-a, req-b, req-c. Signed: admin.test, agent.test, web1, web2, short (1 hour). Revoked: gone.
  for (const n of ["req-a.test", "req-b.test", "req-c.test", "web1.test", "web2.test", "short.test", "gone.test"]) await submit(n);
  for (const n of ["web1.test", "web2.test", "gone.test"]) await setState(n, "signed");
  await setState("short.test", "signed", 3600);
  await setState("gone.test", "revoked");
});

describe("GET /api/v1/ca", () => {
  test("the CA certificate, its CRL, the counts and the next serial", async () => {
    const r = await get("/api/v1/ca");
    assert.equal(r.status, 200);
    assert.equal(r.type, "application/json; charset=utf-8");
    const material = await f.ca.current();
    const b = r.body as Record<string, unknown> & { crl: Record<string, unknown>; counts: Record<string, number> };
    assert.equal(b.subject, "/CN=Puppet CA: ca.test");
    assert.equal(b.commonName, "Puppet CA: ca.test");
    assert.match(String(b.fingerprint), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(b.notAfter, material.cert.notAfter.toISOString());
    assert.deepEqual(b.counts, { requested: 3, signed: 5, revoked: 1 });
    assert.equal(b.crl.entries, 1);
    assert.equal(b.crl.number, material.crl.crlNumber.toString());
    assert.equal(b.crl.nextUpdate, material.crl.nextUpdate.toISOString());
    assert.equal(b.nextSerial, hex(await f.store.peekSerial()));
  });

  test("it takes no query parameters", async () => {
    const r = await get("/api/v1/ca?verbose=1");
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { kind: "invalid-request", message: 'Unknown query parameter "verbose" for /api/v1/ca; it takes none.' });
  });
});

describe("GET /api/v1/requests and /api/v1/certificates", () => {
  test("requests: pending ones only, in name order, paged", async () => {
    const all = await get("/api/v1/requests");
    assert.equal(all.status, 200);
    assert.deepEqual({ ...all.body, items: names(all) }, { total: 3, offset: 0, limit: 100, items: ["req-a.test", "req-b.test", "req-c.test"] });
    const item = all.body.items![0]!;
    assert.equal(item.state, "requested");
    assert.equal(item.serial, undefined);
    const page = await get("/api/v1/requests?offset=1&limit=1");
    assert.deepEqual({ ...page.body, items: names(page) }, { total: 3, offset: 1, limit: 1, items: ["req-b.test"] });
    assert.deepEqual(names(await get("/api/v1/requests?search=C")), ["req-c.test"], "search ignores case");
  });

  test("certificates: signed and revoked by default; state, search, expiry filters", async () => {
    const all = await get("/api/v1/certificates");
    assert.deepEqual(names(all), ["admin.test", "agent.test", "gone.test", "short.test", "web1.test", "web2.test"]);
    const web1 = all.body.items!.find((i) => i.name === "web1.test")!;
    const pem = (await f.app.inject({ url: `${V1}/certificate/web1.test` })).body;
    const cert = parseCertificatePem(pem);
    assert.deepEqual(web1, {
      name: "web1.test", state: "signed", serial: hex(cert.serial), notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(),
      fingerprint: web1.fingerprint, altNames: ["DNS:web1.test"], authorizationExtensions: {},
    });
    assert.deepEqual(names(await get("/api/v1/certificates?state=revoked")), ["gone.test"]);
    assert.deepEqual(names(await get("/api/v1/certificates?state=signed&search=web")), ["web1.test", "web2.test"]);
    assert.deepEqual(names(await get("/api/v1/certificates?expires_within=2h")), ["short.test"]);
    assert.deepEqual(names(await get("/api/v1/certificates?expires_within=30d&state=signed")), ["short.test"]);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    assert.deepEqual(names(await get(`/api/v1/certificates?expires_before=${encodeURIComponent(tomorrow)}`)), ["short.test"]);
    assert.deepEqual(names(await get("/api/v1/certificates?expires_before=2000-01-01")), []);
    const paged = await get("/api/v1/certificates?offset=4&limit=10");
    assert.deepEqual({ total: paged.body.total, offset: paged.body.offset, limit: paged.body.limit, items: names(paged) }, { total: 6, offset: 4, limit: 10, items: ["web1.test", "web2.test"] });
    assert.deepEqual(names(await get("/api/v1/certificates?offset=99")), []);
  });

  test("every query parameter is checked, with a message that says what would do", async () => {
    const cases: [string, RegExp][] = [
      ["/api/v1/certificates?limit=0", /^limit must be a whole number from 1 to 1000, not "0"\.$/],
      ["/api/v1/certificates?limit=1001", /^limit must be a whole number from 1 to 1000/],
      ["/api/v1/certificates?limit=ten", /^limit must be a whole number/],
      ["/api/v1/certificates?offset=-1", /^offset must be a whole number from 0/],
      ["/api/v1/certificates?state=requested", /^state must be one of signed, revoked, not "requested" \(pending requests are at \/api\/v1\/requests\)\.$/],
      ["/api/v1/certificates?state=valid", /^state must be one of signed, revoked, not "valid"\.$/],
      ["/api/v1/requests?state=signed", /\(certificates are at \/api\/v1\/certificates\)/],
      ["/api/v1/certificates?expires_before=next%20week", /^expires_before must be an ISO 8601 date or time/],
      ["/api/v1/certificates?expires_before=2027-02-30T25:00:00Z", /^expires_before must be an ISO 8601 date or time/],
      ["/api/v1/certificates?expires_within=soon", /^expires_within must be a duration: whole seconds, or a whole number followed by y, d, h, m or s/],
      ["/api/v1/certificates?expires_within=1d&expires_before=2030-01-01", /^Give expires_before or expires_within, not both\.$/],
      ["/api/v1/requests?expires_within=1d", /^Unknown query parameter "expires_within" for \/api\/v1\/requests; it takes state, search, offset, limit\.$/],
      ["/api/v1/certificates?serach=web", /^Unknown query parameter "serach"/],
      ["/api/v1/certificates?limit=1&limit=2", /^The query parameter limit is given more than once/],
      ["/api/v1/certificates?search=a%20b", /^search must be part of a certname/],
    ];
    for (const [url, message] of cases) {
      const r = await get(url);
      assert.equal(r.status, 400, url);
      assert.equal(r.body.kind, "invalid-request", url);
      assert.match(String(r.body.message), message, url);
    }
  });
});

describe("GET /api/v1/certificates/NAME", () => {
  test("the certificate with its PEM and fingerprints; a revoked one with its revocation record", async () => {
    const r = await get("/api/v1/certificates/web2.test");
    assert.equal(r.status, 200);
    assert.equal(r.body.state, "signed");
    assert.equal(r.body.pem, (await f.app.inject({ url: `${V1}/certificate/web2.test` })).body);
    assert.deepEqual(Object.keys(r.body.fingerprints as object), ["SHA1", "SHA256", "SHA512"]);
    assert.equal(r.body.requestPending, false);
    assert.equal(r.body.revocation, undefined);
    const gone = await get("/api/v1/certificates/gone.test");
    assert.equal(gone.body.state, "revoked");
    const revocation = gone.body.revocation as Record<string, unknown>;
    assert.deepEqual({ ...revocation, revokedAt: typeof revocation.revokedAt }, { serial: gone.body.serial, name: "gone.test", revokedAt: "string", reason: "keyCompromise", by: "admin.test" });
    assert.ok(Math.abs(Date.parse(String(revocation.revokedAt)) - Date.now()) < 60_000);
  });

  test("not found, only requested, or not a certname: JSON errors", async () => {
    assert.deepEqual((await get("/api/v1/certificates/nosuch.test")).body, { kind: "not-found", message: "Could not find certificate nosuch.test" });
    const requested = await get("/api/v1/certificates/req-a.test");
    assert.equal(requested.status, 404);
    assert.equal(requested.body.message, "req-a.test has a pending certificate request but no certificate");
    const bad = await get("/api/v1/certificates/Upper.test");
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body, { kind: "invalid-name", message: "Certificate names must be lower case." });
  });
});

describe("GET /api/v1/serials/HEX", () => {
  test("the current holder; after a renewal, the old serial's inventory line; a revoked serial's record", async () => {
    const holder = await f.issue("renewer.test");
    const old = parseCertificatePem(holder.certPem).serial;
    const current = await get(`/api/v1/serials/${hex(old)}`);
    assert.equal(current.status, 200);
    assert.equal(current.body.current, true);
    assert.equal(current.body.name, "renewer.test");
    assert.equal((current.body.certificate as Record<string, unknown>).pem, holder.certPem);
    assert.equal((await get(`/api/v1/serials/0x${hex(old).toLowerCase()}`)).body.serial, hex(old), "0x and lower case are accepted");

    const renewed = await f.ca.renew(parseCertificatePem(holder.certPem), TEST_BY);
    const replaced = await get(`/api/v1/serials/${hex(old)}`);
    assert.equal(replaced.body.current, false);
    assert.equal(replaced.body.name, "renewer.test");
    assert.equal(replaced.body.certificate, undefined);
    assert.deepEqual(Object.keys(replaced.body.inventory as object), ["serial", "subject", "notBefore", "notAfter"]);
    assert.equal((replaced.body.inventory as Record<string, unknown>).subject, "/CN=renewer.test");
    assert.equal((await get(`/api/v1/serials/${hex(renewed.serial)}`)).body.current, true);

    const gone = await get(`/api/v1/serials/${String((await get("/api/v1/certificates/gone.test")).body.serial)}`);
    assert.equal(gone.body.current, true);
    assert.equal((gone.body.revocation as Record<string, unknown>).by, "admin.test");
  });

  test("a serial never issued is 404; one that is not hexadecimal is 400", async () => {
    assert.deepEqual((await get("/api/v1/serials/FFFFFF")).body, { kind: "not-found", message: "No certificate with serial FFFFFF was issued by this CA" });
    const bad = await get("/api/v1/serials/xyz");
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.message), /^A serial is hexadecimal/);
  });
});

describe("GET /api/v1/audit", () => {
  test("the most recent records, oldest first, with filters", async () => {
    const all = await get("/api/v1/audit?limit=1000");
    assert.equal(all.status, 200);
    const items = all.body.items!;
    assert.ok(items.length > 10);
    const times = items.map((i) => Date.parse(String(i.time)));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), "oldest first");
    const revoked = await get("/api/v1/audit?action=revoked&name=gone.test");
    assert.deepEqual(revoked.body.items!.map((i) => [i.action, i.names, i.who, i.from]), [["revoked", ["gone.test"], "admin.test", "127.0.0.1"]]);
    const two = await get("/api/v1/audit?limit=2");
    assert.deepEqual(two.body.items, items.slice(-2), "limit keeps the most recent");
    assert.equal(two.body.limit, 2);
    assert.equal((await get("/api/v1/audit?since=1h")).body.items!.length, items.length);
    assert.equal((await get("/api/v1/audit?since=2999-01-01")).body.items!.length, 0);
  });

  test("bad filters are 400 with the accepted values", async () => {
    const bad = await get("/api/v1/audit?action=exploded");
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.message), /^action must be one of submitted, signed, rejected, revoked/);
    assert.match(String((await get("/api/v1/audit?since=yesterday")).body.message), /^since must be a duration back from now/);
  });
});

describe("errors are JSON everywhere on /api/v1", () => {
  test("unknown path, denied caller, denied method, a body that is not JSON", async () => {
    const unknown = await get("/api/v1/nothing-here");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.kind, "not-found");
    assert.match(String(unknown.body.message), /^No such endpoint: GET \/api\/v1\/nothing-here\. The JSON API serves GET \/api\/v1\/ca, /);
    const agent = await get("/api/v1/certificates", f.agent);
    assert.equal(agent.status, 403);
    assert.deepEqual(agent.body, { kind: "forbidden", message: "GET /api/v1/certificates is not allowed for agent.test (node): the rule 'api read' admits admin, viewer." });
    const anonymous = await get("/api/v1/ca", null);
    assert.equal(anonymous.status, 401, "no session and no admin certificate: 401, not 403");
    assert.equal(anonymous.body.kind, "unauthenticated");
    assert.equal(anonymous.body.message, "GET /api/v1/ca is not allowed for an anonymous caller: the rule 'api read' admits admin, viewer. Log in (POST /api/v1/session) or present an admin client certificate.");
    const post = await f.app.inject({ method: "POST", url: "/api/v1/ca", headers: as(f.admin, { "content-type": "text/plain" }), payload: "x" });
    assert.equal(post.statusCode, 403);
    assert.equal(post.headers["content-type"], "application/json; charset=utf-8");
    assert.equal((JSON.parse(post.body) as { kind: string }).kind, "forbidden");
  });
});
