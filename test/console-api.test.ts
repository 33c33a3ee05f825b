/**
 * The console's JSON API in process: logging in and out, the session cookie's attributes,
 * 401 without a session or admin certificate and 403 without the role, CSRF on every change,
 * the lockout (it stays locked with the right password, and is audited), the actions with
 * the explicit confirmation of what a request grants, autosign entries and users.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, describe, test } from "node:test";
import { ConsoleAccess } from "../src/ca/console/access.js";
import { localPrincipal } from "../src/ca/principal.js";
import { PUPPET_SHORT_NAMES, PP_CLI_AUTH } from "../src/pki/oids.js";
import { as, makeFixture, makeCsr, putCsr, type Fixture } from "./helpers/server-fixture.js";
import { tmpDir } from "./helpers/openssl.js";

const PASSWORD = "a long enough password";
let f: Fixture;
let autosignFile: string;

interface Reply {
  status: number;
  body: Record<string, unknown>;
  cookie?: string;
}

async function call(method: "GET" | "POST" | "PUT" | "DELETE", url: string, opts: { cookie?: string; csrf?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers["x-csrf-token"] = opts.csrf;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const r = await f.app.inject({ method, url: `/api/v1${url}`, headers, payload: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const set = r.headers["set-cookie"];
  return { status: r.statusCode, body: JSON.parse(r.body) as Record<string, unknown>, cookie: typeof set === "string" ? set : undefined };
}

async function login(user: string, password = PASSWORD, ip?: string): Promise<{ cookie: string; csrf: string; reply: Reply }> {
  const r = await f.app.inject({ method: "POST", url: "/api/v1/session", headers: { "content-type": "application/json" }, payload: JSON.stringify({ user, password }), ...(ip ? { remoteAddress: ip } : {}) });
  const body = JSON.parse(r.body) as Record<string, unknown>;
  const set = String(r.headers["set-cookie"] ?? "");
  return { cookie: set.split(";")[0]!, csrf: String(body.csrf), reply: { status: r.statusCode, body, cookie: set } };
}

before(async () => {
  autosignFile = path.join(tmpDir("fleetca-console-api-"), "autosign.conf");
  fs.writeFileSync(autosignFile, "# managed by the console\n*.auto.test\n");
  f = await makeFixture({ autosign: autosignFile });
  const access = new ConsoleAccess(f.store);
  const by = localPrincipal("root", "ca");
  await access.addUser("vera", "viewer", PASSWORD, by);
  await access.addUser("otto", "operator", PASSWORD, by);
  await access.addUser("ada", "admin", PASSWORD, by);
  await access.addUser("lou", "operator", PASSWORD, by);
});

describe("console sessions", () => {
  test("401 without a session or admin certificate; login sets a HttpOnly, Secure, SameSite=Strict cookie; logout ends it", async () => {
    const none = await call("GET", "/requests");
    assert.equal(none.status, 401);
    assert.equal(none.body.kind, "unauthenticated");
    assert.equal((await call("GET", "/session")).status, 401);

    const wrong = await login("vera", "not the password");
    assert.equal(wrong.reply.status, 401);
    assert.equal(wrong.reply.body.kind, "unauthenticated");
    assert.equal(wrong.reply.cookie, "", "no cookie for a failed login");

    const { cookie, csrf, reply } = await login("vera");
    assert.equal(reply.status, 200);
    assert.match(reply.cookie!, /^__Host-fleetca-session=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    assert.deepEqual(reply.body.roles, ["viewer"]);
    const me = await call("GET", "/session", { cookie });
    assert.deepEqual([me.body.kind, me.body.name, me.body.csrf], ["session", "vera", csrf]);
    assert.equal((await call("GET", "/requests", { cookie })).status, 200);

    assert.equal((await call("DELETE", "/session", { cookie })).status, 403, "logging out is a change: it needs the CSRF token");
    const out = await call("DELETE", "/session", { cookie, csrf });
    assert.equal(out.status, 200);
    assert.match(out.cookie!, /Max-Age=0/);
    assert.equal((await call("GET", "/requests", { cookie })).status, 401, "the session is gone");
    const records = await f.store.readAudit({ action: "logout" });
    assert.equal(records.at(-1)?.who, "console:vera");
  });

  test("a viewer cannot sign (403); an operator can, but not without the CSRF token", async () => {
    const { csrPem } = await makeCsr("plain.test");
    assert.equal((await putCsr(f, "plain.test", csrPem)).statusCode, 200);
    const viewer = await login("vera");
    const refused = await call("POST", "/actions/sign", { ...viewer, body: { names: ["plain.test"] } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.kind, "forbidden");
    assert.match(String(refused.body.message), /console:vera \(viewer\): the rule 'api actions' admits admin, operator/);

    const op = await login("otto");
    const noToken = await call("POST", "/actions/sign", { cookie: op.cookie, body: { names: ["plain.test"] } });
    assert.equal(noToken.status, 403);
    assert.equal(noToken.body.kind, "csrf");
    const badToken = await call("POST", "/actions/sign", { cookie: op.cookie, csrf: `${op.csrf}x`, body: { names: ["plain.test"] } });
    assert.equal(badToken.body.kind, "csrf");
    assert.equal((await f.ca.status("plain.test")).state, "requested", "nothing was signed without the token");

    const signed = await call("POST", "/actions/sign", { ...op, body: { names: ["plain.test"] } });
    assert.equal(signed.status, 200);
    assert.deepEqual(signed.body, { ok: 1, failed: 0, items: [{ name: "plain.test", ok: true }] });
    const record = (await f.store.readAudit({ name: "plain.test", action: "signed" })).at(-1)!;
    assert.equal(record.who, "console:otto");
    assert.equal(record.from, "127.0.0.1");
  });

  test("an admin certificate is let in without a session; a change from another origin is refused", async () => {
    assert.equal((await f.app.inject({ method: "GET", url: "/api/v1/session", headers: as(f.admin) })).statusCode, 200);
    const cross = await f.app.inject({ method: "POST", url: "/api/v1/actions/reject", headers: as(f.admin, { "content-type": "application/json", origin: "https://evil.example" }), payload: JSON.stringify({ names: ["x.test"] }) });
    assert.equal(cross.statusCode, 403);
    assert.equal((JSON.parse(cross.body) as { kind: string }).kind, "csrf");
  });

  test("five wrong passwords lock the user out: the right password is then refused too, and the lock is audited", async () => {
    for (let i = 0; i < 5; i++) assert.equal((await login("lou", `wrong ${i}`, "192.0.2.50")).reply.status, 401);
    const locked = await login("lou", PASSWORD, "192.0.2.51");
    assert.equal(locked.reply.status, 429, "the right password, from another address: still locked");
    assert.equal(locked.reply.body.kind, "locked-out");
    assert.match(String(locked.reply.body.message), /logins are refused until/);
    assert.equal((await login("lou", PASSWORD, "192.0.2.51")).reply.status, 429, "and stays locked");
    const other = await login("otto", "wrong again", "192.0.2.50");
    assert.equal(other.reply.status, 429, "the address that guessed is locked for every user");
    const audit = await f.store.readAudit({ action: "login-locked" });
    assert.deepEqual(audit.map((r) => r.reason).sort(), ["too many failed logins for address:192.0.2.50", "too many failed logins for user:lou"]);
    assert.ok((await f.store.readAudit({ action: "login" })).some((r) => r.outcome === "refused" && /locked out until/.test(r.reason ?? "")));
  });
});

describe("console actions", () => {
  test("a request granting alt names or pp_cli_auth is signed only with an explicit confirmation naming it", async () => {
    const { csrPem } = await makeCsr("granting.test", { altNames: ["DNS:granting.test", "DNS:puppet"], extensionRequests: [{ oid: PUPPET_SHORT_NAMES.pp_role!, value: "web" }] });
    assert.equal((await putCsr(f, "granting.test", csrPem)).statusCode, 200);
    const op = await login("otto");
    const listed = await call("GET", "/requests?search=granting", { cookie: op.cookie });
    const item = (listed.body.items as Record<string, unknown>[])[0]!;
    assert.deepEqual(item.grants, ["alt name DNS:puppet"]);
    assert.deepEqual((item.extensions as { name: string; value: string }[]).map((e) => [e.name, e.value]), [["pp_role", "web"]]);
    assert.match(String(item.submittedAt), /^\d{4}-\d\d-\d\dT/);

    const unconfirmed = await call("POST", "/actions/sign", { ...op, body: { names: ["granting.test"] } });
    assert.equal(unconfirmed.body.failed, 1);
    assert.match(JSON.stringify(unconfirmed.body.items), /Signing granting.test grants alt name DNS:puppet: confirm it explicitly/);
    assert.equal((await f.ca.status("granting.test")).state, "requested");
    const confirmed = await call("POST", "/actions/sign", { ...op, body: { names: ["granting.test"], confirm: ["granting.test"] } });
    assert.equal(confirmed.body.ok, 1, JSON.stringify(confirmed.body));
    const cert = await call("GET", "/certificates/granting.test", { cookie: op.cookie });
    assert.deepEqual(cert.body.altNames, ["DNS:granting.test", "DNS:puppet"]);
    assert.ok((cert.body.extensions as { name: string }[]).some((e) => e.name === "pp_role"));
    assert.ok((cert.body.history as { action: string }[]).some((r) => r.action === "signed"));
    assert.match(String((cert.body.fingerprints as Record<string, string>).SHA1), /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);

    const { csrPem: cli } = await makeCsr("cliauth.test", { extensionRequests: [{ oid: PP_CLI_AUTH, value: "true" }] });
    await putCsr(f, "cliauth.test", cli);
    const r = await call("POST", "/actions/sign", { ...op, body: { names: ["cliauth.test"] } });
    assert.match(JSON.stringify(r.body.items), /grants pp_cli_auth=true: confirm/);
  });

  test("reject, revoke with a reason and clean, each audited with the user's name", async () => {
    const op = await login("otto");
    const { csrPem } = await makeCsr("gone.test");
    await putCsr(f, "gone.test", csrPem);
    assert.equal((await call("POST", "/actions/reject", { ...op, body: { names: ["gone.test", "never.test"] } })).body.failed, 1);
    assert.equal((await f.store.readAudit({ name: "gone.test", action: "rejected" })).at(-1)?.who, "console:otto");
    const revoked = await call("POST", "/actions/revoke", { ...op, body: { names: ["plain.test"], reason: "superseded" } });
    assert.equal(revoked.body.ok, 1);
    const page = await call("GET", "/certificates?state=revoked&search=plain", { cookie: op.cookie });
    assert.deepEqual((page.body.items as { name: string }[]).map((i) => i.name), ["plain.test"]);
    assert.equal((await call("POST", "/actions/clean", { ...op, body: { names: ["plain.test"] } })).body.ok, 1);
    assert.equal((await call("GET", "/certificates/plain.test", { cookie: op.cookie })).status, 404);
  });

  test("certificates sort server-side by expiry and serial, both ways", async () => {
    const op = await login("otto");
    const asc = await call("GET", "/certificates?sort=serial&order=asc&limit=50", { cookie: op.cookie });
    assert.equal(asc.status, 200, JSON.stringify(asc.body));
    const desc = await call("GET", "/certificates?sort=serial&order=desc&limit=50", { cookie: op.cookie });
    const serials = (b: Record<string, unknown>) => (b.items as { serial: string }[]).map((i) => BigInt(`0x${i.serial}`));
    const a = serials(asc.body);
    assert.ok(a.length >= 3);
    assert.deepEqual(a, [...a].sort((x, y) => (x < y ? -1 : 1)));
    assert.deepEqual(serials(desc.body), [...a].reverse());
    assert.equal((await call("GET", "/certificates?sort=color", { cookie: op.cookie })).status, 400);
  });
});

describe("autosign entries and users", () => {
  test("admins edit the glob file (comments kept), others may only read it; the test name explains the match", async () => {
    const admin = await login("ada");
    const op = await login("otto");
    assert.deepEqual(((await call("GET", "/autosign", { cookie: op.cookie })).body.entries as { pattern: string }[]).map((e) => e.pattern), ["*.auto.test"]);
    assert.equal((await call("PUT", "/autosign", { ...op, body: { entries: ["*"] } })).status, 403);
    const bad = await call("PUT", "/autosign", { ...admin, body: { entries: ["bad entry"] } });
    assert.equal(bad.status, 400);
    const put = await call("PUT", "/autosign", { ...admin, body: { entries: ["*.example.com", "db1.other.test"] } });
    assert.equal(put.status, 200);
    assert.equal(fs.readFileSync(autosignFile, "utf8"), "# managed by the console\n*.example.com\ndb1.other.test\n");
    const hit = await call("GET", "/autosign/test?name=a.b.EXAMPLE.com", { cookie: op.cookie });
    assert.equal(hit.body.signs, true);
    assert.match(String(hit.body.rule), /^Line 2 \(\*\.example\.com\) matches: a leading '\*' matches the domain example\.com/);
    assert.equal((await call("GET", "/autosign/test?name=badexample.com", { cookie: op.cookie })).body.signs, false);
    assert.equal((await f.store.readAudit({ action: "autosign-edited" })).at(-1)?.who, "console:ada");
  });

  test("only admins list and manage users; a new user can log in; a password change ends sessions", async () => {
    const admin = await login("ada");
    const op = await login("otto");
    assert.equal((await call("GET", "/users", { cookie: op.cookie })).status, 403);
    assert.deepEqual(((await call("GET", "/users", { cookie: admin.cookie })).body.items as { name: string }[]).map((u) => u.name), ["ada", "lou", "otto", "vera"]);
    assert.equal((await call("POST", "/users", { ...admin, body: { name: "newbie", role: "viewer", password: "short" } })).status, 400);
    assert.equal((await call("POST", "/users", { ...admin, body: { name: "newbie", role: "viewer", password: PASSWORD } })).status, 200);
    const newbie = await login("newbie");
    assert.equal(newbie.reply.status, 200);
    assert.equal((await call("PUT", "/users/newbie", { ...admin, body: { password: "another long password" } })).status, 200);
    assert.equal((await call("GET", "/requests", { cookie: newbie.cookie })).status, 401, "the changed user's session ended");
    assert.equal((await call("DELETE", "/users/ada", admin)).status, 409, "an admin cannot delete themself");
    assert.equal((await call("DELETE", "/users/newbie", admin)).status, 200);
    assert.equal((await f.store.readAudit({ action: "user-deleted" })).at(-1)?.detail, "user newbie");
  });
});
