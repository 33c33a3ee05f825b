/**
 * Where to ask and CRL hygiene: certificates name their CRL distribution point and OCSP
 * responder when the settings say so (checked by openssl, and followed by `openssl verify
 * -crl_download` and `openssl ocsp`); every CRL has a higher number; crl_ttl sets nextUpdate
 * and a due CRL is signed again; a prune drops the entries of expired certificates and keeps
 * every unexpired revocation and every record; revoke by serial works without the file.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { CertificateAuthority, type CaSettings } from "../src/ca/authority.js";
import { crlDue, crlNextUpdate } from "../src/ca/crl-hygiene.js";
import { loadSettings } from "../src/config/index.js";
import { generateCertificate } from "../src/ca/generate.js";
import { localPrincipal } from "../src/ca/principal.js";
import { setupCa } from "../src/ca/setup.js";
import { crlStateFromPem, listRevoked } from "../src/pki/crl.js";
import { fromPem } from "../src/pki/pem.js";
import { FileStore } from "../src/store/file/index.js";
import { PostgresStore } from "../src/store/postgres/index.js";
import { pgUnavailable, startPg } from "./helpers/pg-server.js";
import { as, makeFixture } from "./helpers/server-fixture.js";
import { fleetca } from "./helpers/cli.js";
import { startServer } from "./helpers/server-process.js";
import { openssl, tmpDir, x509Text } from "./helpers/openssl.js";

const execFileAsync = promisify(execFile);
/** openssl without the event loop blocked (the HTTP servers here answer it), and without proxies from the environment. */
const run = (cmd: string, args: string[]) => execFileAsync(cmd, args, { env: { PATH: process.env.PATH ?? "" } });
const EC = { type: "ec", curve: "P-256" } as const;
const base: CaSettings = { caTtl: 86_400, allowSubjectAltNames: false, allowAuthorizationExtensions: false, allowDuplicateCerts: false };
const by = localPrincipal("alice", "ca1");
const HOUR = 3_600_000;
const T0 = new Date("2027-03-01T12:00:00Z");

/** A CA in a file store whose clock the test moves. */
async function makeCa(settings: Partial<CaSettings> = {}, start = T0) {
  const cadir = path.join(tmpDir(), "ca");
  const store = new FileStore(cadir);
  await setupCa(store, { caName: "Puppet CA: hygiene", key: EC, caTtl: 86_400 * 3650, now: start, crlTtl: settings.crlTtl });
  const clock = { now: start };
  const ca = new CertificateAuthority({ store, settings: { ...base, ...settings }, clock: () => clock.now });
  const issue = async (name: string, ttlSeconds?: number) => (await generateCertificate(ca, name, { by, key: EC, ttlSeconds })).cert;
  const file = (f: string) => path.join(cadir, f);
  return { cadir, store, ca, clock, issue, file, at: (ms: number) => (clock.now = new Date(start.getTime() + ms)) };
}

/** `openssl crl -verify` of the CA's CRL at `when` (the CRL's own dates are checked against the attime). */
function crlVerifies(caFile: string, crlFile: string): void {
  const r = openssl(["crl", "-noout", "-CAfile", caFile, "-in", crlFile]);
  assert.match(r.out, /verify OK/, r.out);
}

const listed = (crlPem: string) => new Set(listRevoked(fromPem(crlPem, ["X509 CRL"], "CRL")).map((e) => e.serial));

test("without the settings a certificate is Puppet's profile; with them it names its CRL, OCSP responder and issuer", async () => {
  const plain = await makeCa({}, new Date());
  const text = x509Text((await generateCertificate(plain.ca, "plain.example.com", { by, key: EC })).certPem);
  assert.doesNotMatch(text, /CRL Distribution Points|Authority Information Access/);

  const where = await makeCa({ crlUrl: "http://ca.example.com:8080/crl.der", ocspUrl: "http://ocsp.example.com/", caIssuersUrl: "http://ca.example.com:8080/ca.der" }, new Date());
  const g = await generateCertificate(where.ca, "node.example.com", { by, key: EC });
  const out = x509Text(g.certPem);
  assert.match(out, /X509v3 CRL Distribution Points:\s*\n\s*Full Name:\s*\n\s*URI:http:\/\/ca\.example\.com:8080\/crl\.der/);
  assert.match(out, /Authority Information Access:\s*\n\s*OCSP - URI:http:\/\/ocsp\.example\.com\/\s*\n\s*CA Issuers - URI:http:\/\/ca\.example\.com:8080\/ca\.der/);
  const uri = openssl(["x509", "-noout", "-ocsp_uri"], g.certPem);
  assert.equal(uri.out.trim(), "http://ocsp.example.com/");
  // Only one of the two AIA settings: only that access method.
  const ocspOnly = await makeCa({ ocspUrl: "https://ocsp.example.com/x" }, new Date());
  const t2 = x509Text((await generateCertificate(ocspOnly.ca, "n2.example.com", { by, key: EC })).certPem);
  assert.match(t2, /OCSP - URI:https:\/\/ocsp\.example\.com\/x/);
  assert.doesNotMatch(t2, /CA Issuers|CRL Distribution/);
});

/** A loopback HTTP server; `handle` answers each request with its body read. */
async function serve(handle: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test("openssl verify -crl_download fetches the CRL from the distribution point the certificate names", async () => {
  let crlDer: Buffer = Buffer.alloc(0);
  let fetched = 0;
  const web = await serve((req, _body, res) => {
    fetched++;
    if (req.url !== "/crl.der") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/pkix-crl" }).end(crlDer);
  });
  try {
    const c = await makeCa({ crlUrl: `${web.url}/crl.der` }, new Date());
    const good = await generateCertificate(c.ca, "good.example.com", { by, key: EC });
    const bad = await generateCertificate(c.ca, "bad.example.com", { by, key: EC });
    await c.ca.revoke(["bad.example.com"], by);
    crlDer = fromPem(await c.ca.crlPem(), ["X509 CRL"], "CRL");
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "good.pem"), good.certPem);
    fs.writeFileSync(path.join(dir, "bad.pem"), bad.certPem);
    const verify = (f: string) =>
      run("openssl", ["verify", "-crl_download", "-crl_check", "-CAfile", c.file("ca_crt.pem"), path.join(dir, f)]).then(
        (r) => ({ ok: true, out: r.stdout + r.stderr }),
        (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
      );
    const ok = await verify("good.pem");
    assert.ok(ok.ok, ok.out);
    const refused = await verify("bad.pem");
    assert.equal(refused.ok, false);
    assert.match(refused.out, /certificate revoked/);
    assert.ok(fetched >= 2, "openssl fetched the CRL from the URL in the certificate");
  } finally {
    await web.close();
  }
});

test("openssl ocsp sends its request to the responder the certificate names", async () => {
  const seen: { method?: string; url?: string; type?: string; body?: Buffer } = {};
  const web = await serve((req, body, res) => {
    Object.assign(seen, { method: req.method, url: req.url, type: req.headers["content-type"], body });
    // OCSPResponse { responseStatus unauthorized (6) }: the responder itself is another test's business.
    res.writeHead(200, { "content-type": "application/ocsp-response" }).end(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x06]));
  });
  try {
    const c = await makeCa({ ocspUrl: `${web.url}/ocsp` }, new Date());
    const g = await generateCertificate(c.ca, "asked.example.com", { by, key: EC });
    const dir = tmpDir();
    const certFile = path.join(dir, "cert.pem");
    fs.writeFileSync(certFile, g.certPem);
    const url = openssl(["x509", "-noout", "-ocsp_uri", "-in", certFile]).out.trim();
    assert.equal(url, `${web.url}/ocsp`);
    const r = await run("openssl", ["ocsp", "-issuer", c.file("ca_crt.pem"), "-cert", certFile, "-url", url]).then(
      (x) => x.stdout + x.stderr,
      (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}`,
    );
    assert.match(r, /unauthorized/i, r);
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/ocsp");
    assert.equal(seen.type, "application/ocsp-request");
    fs.writeFileSync(path.join(dir, "req.der"), seen.body!);
    const req = openssl(["ocsp", "-reqin", path.join(dir, "req.der"), "-req_text"]);
    assert.match(req.out, new RegExp(`Serial Number: 0*${g.cert.serial.toString(16).toUpperCase()}`), req.out);
  } finally {
    await web.close();
  }
});

test("the settings: off by default as in Puppet, Puppet durations, http(s) URLs only", () => {
  const load = (env: Record<string, string>) => loadSettings({ file: null, env, flags: { cadir: "/nonexistent/ca" } });
  const d = load({});
  assert.deepEqual([d.crlUrl, d.ocspUrl, d.caIssuersUrl, d.crlTtl, d.autoPrune], ["", "", "", 5 * 365 * 86_400, false]);
  const s = load({ FLEETCA_CRL_URL: "http://ca.example.com/crl.der", FLEETCA_OCSP_URL: "https://ca.example.com:8140/ocsp", FLEETCA_CRL_TTL: "7d", FLEETCA_AUTO_PRUNE: "true" });
  assert.deepEqual([s.crlUrl, s.ocspUrl, s.crlTtl, s.autoPrune], ["http://ca.example.com/crl.der", "https://ca.example.com:8140/ocsp", 7 * 86_400, true]);
  for (const [k, v] of [["FLEETCA_CRL_URL", "ldap://ca.example.com/cn=crl"], ["FLEETCA_OCSP_URL", "http://ca.example.com/ü"], ["FLEETCA_CA_ISSUERS_URL", "ca.example.com/ca.der"], ["FLEETCA_CRL_TTL", "30"], ["FLEETCA_CRL_TTL", "1d12h"]] as const) {
    assert.throws(() => load({ [k]: v }), /http:\/\/ or https:\/\/ URL|duration/, `${k}=${v}`);
  }
});

test("crl_ttl sets nextUpdate; whole years count calendar years, as Puppet's five do", () => {
  assert.equal(crlNextUpdate(new Date("2027-06-15T08:00:00Z")).toISOString(), "2032-06-15T08:00:00.000Z", "the default: Puppet's five years");
  assert.equal(crlNextUpdate(new Date("2027-01-01T00:00:00Z"), 5 * 365 * 86_400).toISOString(), "2032-01-01T00:00:00.000Z");
  assert.equal(crlNextUpdate(new Date("2027-01-01T00:00:00Z"), 7 * 86_400).toISOString(), "2027-01-08T00:00:00.000Z");
  const crl = { thisUpdate: T0, nextUpdate: new Date(T0.getTime() + 9 * HOUR) };
  assert.equal(crlDue(crl, new Date(T0.getTime() + 5 * HOUR), 9 * 3600), false);
  assert.equal(crlDue(crl, new Date(T0.getTime() + 6 * HOUR), 9 * 3600), true, "two thirds of its life");
  assert.equal(crlDue(crl, new Date(T0.getTime() + HOUR), 3600), true, "crl_ttl shortened: it outlives the setting");
});

test("every CRL has a higher number; a due CRL is signed again with a fresh nextUpdate, and only then", async () => {
  const c = await makeCa({ crlTtl: 7 * 86_400 });
  const crlNow = () => crlStateFromPem(fs.readFileSync(c.file("ca_crl.pem"), "utf8"));
  assert.equal(crlNow().crlNumber, 0n);
  assert.equal(crlNow().nextUpdate.toISOString(), "2027-03-08T12:00:00.000Z", "setup's first CRL follows crl_ttl too");
  await c.issue("a.example.com");
  c.at(HOUR);
  await c.ca.revoke(["a.example.com"], by);
  assert.equal(crlNow().crlNumber, 1n);
  assert.equal(crlNow().nextUpdate.getTime(), T0.getTime() + HOUR + 7 * 24 * HOUR);
  c.at(4 * 24 * HOUR);
  assert.equal((await c.ca.refreshCrl(by)).resigned, false, "not due at 4 of 7 days");
  c.at(5 * 24 * HOUR);
  const r = await c.ca.refreshCrl(by);
  assert.equal(r.resigned, true);
  assert.equal(r.crlNumber, 2n);
  assert.equal(crlNow().crlNumber, 2n);
  assert.equal(crlNow().thisUpdate.getTime(), T0.getTime() + 5 * 24 * HOUR);
  assert.equal(crlNow().nextUpdate.getTime(), T0.getTime() + 12 * 24 * HOUR);
  assert.deepEqual([...listed(fs.readFileSync(c.file("ca_crl.pem"), "utf8"))], [...crlNow().serials], "same entries");
  assert.equal((await c.ca.refreshCrl(by, { force: true })).crlNumber, 3n, "forced: signed whatever its age");
  crlVerifies(c.file("ca_crt.pem"), c.file("ca_crl.pem"));
  const audit = await c.ca.auditLog({ action: "crl-refreshed" });
  assert.equal(audit.length, 2);
  assert.match(audit[0]!.detail!, /^CRL 2, next update 2027-03-13T12:00:00.000Z/);
});

test("prune drops expired certificates' entries (after one CRL past their expiry), keeps every unexpired one and every record", async () => {
  const c = await makeCa();
  const a = await c.issue("a.example.com", 3600); // expires T0+1h
  const b = await c.issue("b.example.com", 3 * 3600); // T0+3h
  const d = await c.issue("d.example.com", 30 * 86_400); // T0+30d
  const e = await c.issue("e.example.com", 3600); // T0+1h, never revoked
  c.at(10 * 60_000);
  await c.ca.revoke(["a.example.com", "b.example.com", "d.example.com"], by);
  const crlFile = c.file("ca_crl.pem");
  const read = () => fs.readFileSync(crlFile, "utf8");
  assert.equal(crlStateFromPem(read()).crlNumber, 1n);

  // T0+2h: a expired, but after the current CRL (T0+10min) was signed: held back, listed once more.
  c.at(2 * HOUR);
  const dry = await c.ca.prune(by, { dryRun: true });
  assert.deepEqual([dry.pruned.length, dry.heldBack.map((x) => x.serial)], [0, [a.serial]]);
  assert.equal(dry.resigned, false);
  assert.equal(crlStateFromPem(read()).crlNumber, 1n, "a dry run signs nothing");
  const first = await c.ca.prune(by);
  assert.deepEqual([first.pruned.length, first.heldBack.map((x) => x.name), first.resigned, first.crlNumber], [0, ["a.example.com"], true, 2n]);
  assert.deepEqual(listed(read()), new Set([a.serial, b.serial, d.serial]));
  // The CRL just signed (T0+2h) lists a after its expiry: now it may go.
  const second = await c.ca.prune(by);
  assert.deepEqual(second.pruned.map((x) => [x.serial, x.name, x.notAfter.getTime()]), [[a.serial, "a.example.com", a.notAfter.getTime()]]);
  assert.equal(second.crlNumber, 3n);
  assert.deepEqual(listed(read()), new Set([b.serial, d.serial]));
  crlVerifies(c.file("ca_crt.pem"), crlFile);
  assert.equal(crlStateFromPem(read()).crlNumber, 3n);

  // Nothing more to prune: nothing signed.
  const idle = await c.ca.prune(by);
  assert.deepEqual([idle.pruned.length, idle.heldBack.length, idle.resigned, idle.crlNumber], [0, 0, false, 3n]);

  // T0+5h: b expired before the CRL of T0+2h? No (T0+3h): held back, then pruned; d stays.
  c.at(5 * HOUR);
  assert.deepEqual((await c.ca.prune(by)).heldBack.map((x) => x.serial), [b.serial]);
  assert.deepEqual((await c.ca.prune(by)).pruned.map((x) => x.serial), [b.serial]);
  const final = read();
  assert.deepEqual(listed(final), new Set([d.serial]), "the unexpired revocation stays");
  crlVerifies(c.file("ca_crt.pem"), crlFile);
  assert.equal(crlStateFromPem(final).crlNumber, 5n);

  // The records stay (history; OCSP answers from them), and a repair does not put them back.
  for (const x of [a, b, d]) assert.ok(await c.ca.revocation(x.serial), `record of ${x.serial}`);
  assert.equal(await c.ca.repairCrl(), 0);
  assert.equal(read(), final);
  // Revoked again by serial: the first record answers and the pruned entry stays out.
  const [again] = await c.ca.revokeBySerial([a.serial], by, "superseded");
  assert.deepEqual([again!.error, again!.record?.reason, again!.name], [undefined, "keyCompromise", "a.example.com"]);
  assert.equal(read(), final);
  // Revoking on top of a pruned CRL appends as before.
  await c.ca.revoke(["e.example.com"], by);
  assert.deepEqual(listed(read()), new Set([d.serial, e.serial]));
  crlVerifies(c.file("ca_crt.pem"), crlFile);

  const audit = await c.ca.auditLog({ action: "pruned" });
  assert.equal(audit.length, 4);
  assert.deepEqual(audit[1]!.serials, [a.serial.toString(16).toUpperCase()]);
  assert.deepEqual(audit[1]!.names, ["a.example.com"]);
  assert.equal(audit[1]!.who, "cli:alice@ca1");
});

test("with auto_prune, the CRL signed again because it is due drops expired entries; without, it keeps them", async () => {
  for (const autoPrune of [false, true]) {
    const c = await makeCa({ crlTtl: 3 * 3600, autoPrune });
    const a = await c.issue("a.example.com", 3600);
    const d = await c.issue("d.example.com", 86_400);
    await c.ca.revoke(["a.example.com", "d.example.com"], by);
    c.at(2 * HOUR + 1); // due (2/3 of 3h); a expired after the CRL of T0: held back
    assert.equal((await c.ca.refreshCrl(by)).resigned, true);
    c.at(4 * HOUR + 2); // due again; a listed on the CRL of T0+2h: goes, with auto_prune
    const r = await c.ca.refreshCrl(by);
    assert.equal(r.resigned, true);
    assert.deepEqual(r.pruned.map((x) => x.serial), autoPrune ? [a.serial] : []);
    assert.deepEqual(listed(fs.readFileSync(c.file("ca_crl.pem"), "utf8")), new Set(autoPrune ? [d.serial] : [a.serial, d.serial]));
    crlVerifies(c.file("ca_crt.pem"), c.file("ca_crl.pem"));
  }
});

test("revoke by serial: a certificate whose file is gone is named from the inventory; unknown serials need force, future ones are refused", async () => {
  const c = await makeCa({}, new Date());
  const gone = await c.issue("gone.example.com");
  fs.rmSync(c.file("signed/gone.example.com.pem"));
  const [r] = await c.ca.revokeBySerial([gone.serial], by, "superseded");
  assert.equal(r!.error, undefined);
  assert.deepEqual([r!.name, r!.record?.name, r!.record?.reason], ["gone.example.com", "gone.example.com", "superseded"]);
  assert.ok(listed(fs.readFileSync(c.file("ca_crl.pem"), "utf8")).has(gone.serial));
  // Again: succeeds with the first record, as Puppet's second revoke does.
  const [again] = await c.ca.revokeBySerial([gone.serial], by, "keyCompromise");
  assert.equal(again!.record?.reason, "superseded");

  // A serial below the next one that no certificate holds and the inventory lacks: this CA has no record of it.
  const other = await c.issue("other.example.com");
  fs.writeFileSync(c.file("inventory.txt"), fs.readFileSync(c.file("inventory.txt"), "utf8").replace(/^.*CN=other\.example\.com\n/m, ""));
  fs.rmSync(c.file("signed/other.example.com.pem"));
  const [refused] = await c.ca.revokeBySerial([other.serial], by);
  assert.equal(refused!.error?.kind, "not-found");
  assert.match(refused!.error!.message, /no record of issuing serial .*--force/);
  const [forced] = await c.ca.revokeBySerial([other.serial], by, undefined, { force: true });
  assert.equal(forced!.error, undefined);
  assert.equal(forced!.record?.name, "");
  const next = await c.store.peekSerial();
  const [future] = await c.ca.revokeBySerial([next + 5n], by, undefined, { force: true });
  assert.match(future!.error!.message, /has not been issued yet/);
  const refusals = (await c.ca.auditLog({ action: "revoked" })).filter((x) => x.outcome === "refused");
  assert.equal(refusals.length, 2);
});

test("fleetca ca revoke --serial and ca prune at the shell", async () => {
  // Certificates that expired ten days ago, revoked before they expired (the CA's clock moved back).
  const start = new Date(Date.now() - 12 * 86_400_000);
  const c = await makeCa({}, start);
  const old = await c.issue("old.example.com", 86_400);
  const live = await c.issue("live.example.com", 86_400 * 365);
  await c.ca.revoke(["old.example.com"], by);
  const gone = await c.issue("gone.example.com", 86_400 * 365);
  fs.rmSync(c.file("signed/gone.example.com.pem"));
  const hex = (s: bigint) => s.toString(16).toUpperCase();

  const rv = await fleetca(["ca", "revoke", "--serial", hex(gone.serial), "--serial", `0x${hex(live.serial).toLowerCase()}`, "--reason", "superseded", "--cadir", c.cadir]);
  assert.equal(rv.code, 0, rv.stderr);
  assert.match(rv.stdout, new RegExp(`Certificate with serial ${hex(gone.serial)} \\(gone\\.example\\.com\\) has been revoked`));
  const bad = await fleetca(["ca", "revoke", "--serial", "zz", "--cadir", c.cadir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /A serial is hexadecimal/);
  assert.equal((await fleetca(["ca", "revoke", "--cadir", c.cadir])).code, 2);

  // The CRL the revoke signed (now) lists old after its expiry: the first prune removes it.
  const dry = await fleetca(["ca", "prune", "--dry-run", "--format", "json", "--cadir", c.cadir]);
  assert.equal(dry.code, 0, dry.stderr);
  const j = JSON.parse(dry.stdout) as { dryRun: boolean; resigned: boolean; pruned: { serial: string; name: string }[]; heldBack: unknown[] };
  assert.deepEqual([j.dryRun, j.resigned, j.pruned.map((p) => [p.serial, p.name]), j.heldBack], [true, false, [[hex(old.serial), "old.example.com"]], []]);
  const before = fs.readFileSync(c.file("ca_crl.pem"), "utf8");
  const pr = await fleetca(["ca", "prune", "--cadir", c.cadir]);
  assert.equal(pr.code, 0, pr.stderr);
  assert.match(pr.stdout, /Removed 1 CRL entry of expired certificates:\n\s+\S+\s+old\.example\.com/);
  assert.match(pr.stdout, new RegExp(`CRL ${crlStateFromPem(before).crlNumber + 1n} signed`));
  assert.deepEqual(listed(fs.readFileSync(c.file("ca_crl.pem"), "utf8")), new Set([gone.serial, live.serial]));
  crlVerifies(c.file("ca_crt.pem"), c.file("ca_crl.pem"));
  const again = await fleetca(["ca", "prune", "--cadir", c.cadir]);
  assert.match(again.stdout, /nothing to prune/);
  const refresh = await fleetca(["ca", "refresh-crl", "--if-due", "--cadir", c.cadir]);
  assert.match(refresh.stdout, /is not due yet/);
  const forced = await fleetca(["ca", "refresh-crl", "--format", "json", "--cadir", c.cadir]);
  assert.equal(JSON.parse(forced.stdout).resigned, true);
});

test("POST /api/v1/revocations revokes by serial or name and answers the record; errors are {kind, message}", async () => {
  const f = await makeFixture();
  const gone = await f.issue("gone.test");
  await f.store.deleteCertificate("gone.test");
  const post = (payload: unknown) =>
    f.app.inject({ method: "POST", url: "/api/v1/revocations", headers: as(f.admin, { "content-type": "application/json" }), payload: JSON.stringify(payload) });
  const serial = (await f.store.readInventory()).find((l) => l.subject === "/CN=gone.test")!.serial;
  assert.equal(await f.store.getCertificate(gone.name), undefined, "the file is gone");
  const r = await post({ serial: serial.toString(16), reason: "superseded" });
  assert.equal(r.statusCode, 200, r.body);
  const body = JSON.parse(r.body) as Record<string, string>;
  assert.deepEqual([body.serial, body.name, body.reason, body.by], [serial.toString(16).toUpperCase(), "gone.test", "superseded", "admin.test"]);
  assert.ok((await f.ca.revokedSerials()).has(serial));

  const byName = await post({ name: "agent.test" });
  assert.equal(byName.statusCode, 200, byName.body);
  assert.equal((JSON.parse(byName.body) as { reason: string }).reason, "keyCompromise");

  const unknown = await post({ serial: "7E57E7" });
  assert.equal(unknown.statusCode, 404);
  assert.equal((JSON.parse(unknown.body) as { kind: string }).kind, "not-found");
  for (const bad of [{}, { serial: "1", name: "x.test" }, { serial: 5 }, { serial: "1", extra: 1 }, { name: "agent.test", force: true }, { serial: "2", reason: "bogus" }]) {
    const x = await post(bad);
    assert.equal(x.statusCode, 400, JSON.stringify(bad));
    assert.equal((JSON.parse(x.body) as { kind: string }).kind, "invalid-request");
  }
  const plain = await f.issue("plain.test");
  const node = await f.app.inject({ method: "POST", url: "/api/v1/revocations", headers: as(plain, { "content-type": "application/json" }), payload: JSON.stringify({ name: "agent.test" }) });
  assert.equal(node.statusCode, 403);
  await f.app.close();
});

test("fleetca server: settings reach the issuing path, and a CRL valid longer than a shortened crl_ttl is signed again at start", async () => {
  const dir = tmpDir("fleetca-crl-server-");
  const crlOf = (cadir: string) => crlStateFromPem(fs.readFileSync(path.join(cadir, "ca_crl.pem"), "utf8"));
  const first = await startServer({ dir, config: "key_type: ec\ncrl_url: http://ca.test/crl.der\nocsp_url: http://ca.test/ocsp\n" });
  try {
    const own = x509Text(fs.readFileSync(path.join(first.ssldir, "certs", "localhost.pem"), "utf8"));
    assert.match(own, /URI:http:\/\/ca\.test\/crl\.der/);
    assert.match(own, /OCSP - URI:http:\/\/ca\.test\/ocsp/);
    const crl0 = crlOf(first.cadir);
    assert.ok(crl0.nextUpdate.getTime() - crl0.thisUpdate.getTime() > 4 * 365 * 86_400_000, "Puppet's five years by default");
    assert.equal(first.logs().some((l) => l.msg === "crl re-signed"), false, "a fresh CRL is not due");
    assert.equal(await first.stop(), 0);

    const again = await startServer({ dir, config: "key_type: ec\ncrl_ttl: 90s\n" });
    try {
      const line = await again.waitForLog((l) => l.msg === "crl re-signed");
      const crl1 = crlOf(again.cadir);
      assert.equal(line.number, String(crl0.crlNumber + 1n));
      assert.equal(crl1.crlNumber, crl0.crlNumber + 1n);
      assert.equal(crl1.nextUpdate.getTime() - crl1.thisUpdate.getTime(), 90_000);
      crlVerifies(path.join(again.cadir, "ca_crt.pem"), path.join(again.cadir, "ca_crl.pem"));
    } finally {
      assert.equal(await again.stop(), 0);
    }
  } finally {
    await first.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("on PostgreSQL", { skip: pgUnavailable() }, () => {
  test("two servers on one database: one refreshes, the other prunes; the entries go, the records stay", async () => {
    const server = await startPg();
    const [sa, sb] = await Promise.all([PostgresStore.open(server.url), PostgresStore.open(server.url)]);
    try {
      await setupCa(sa, { caName: "Puppet CA: pg", key: EC, caTtl: 86_400 * 3650, now: T0 });
      const clock = { now: T0 };
      const caA = new CertificateAuthority({ store: sa, settings: base, clock: () => clock.now });
      const caB = new CertificateAuthority({ store: sb, settings: base, clock: () => clock.now });
      const a = (await generateCertificate(caA, "a.example.com", { by, key: EC, ttlSeconds: 3600 })).cert;
      const d = (await generateCertificate(caA, "d.example.com", { by, key: EC, ttlSeconds: 30 * 86_400 })).cert;
      await caA.revoke(["a.example.com", "d.example.com"], by);
      clock.now = new Date(T0.getTime() + 2 * HOUR);
      assert.equal((await caB.refreshCrl(by, { force: true })).crlNumber, 2n);
      const r = await caA.prune(by);
      assert.deepEqual([r.pruned.map((x) => x.serial), r.crlNumber], [[a.serial], 3n]);
      await caB.current(true);
      assert.deepEqual(listed(await caB.crlPem()), new Set([d.serial]));
      assert.equal((await caB.revocation(a.serial))?.name, "a.example.com", "the record stays");
      assert.deepEqual((await caB.revocations()).map((x) => x.serial).sort(), [a.serial, d.serial].sort());
      assert.equal(await caB.repairCrl(), 0);
      const [bySerial] = await caB.revokeBySerial([a.serial], by, "superseded");
      assert.equal(bySerial!.record?.reason, "keyCompromise", "revoked already: the first record");
      assert.deepEqual(listed(await caB.crlPem()), new Set([d.serial]), "and the pruned entry stays out");
    } finally {
      await sa.close();
      await sb.close();
      await server.stop();
    }
  });
});
