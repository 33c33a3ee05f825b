/**
 * `fleetca ca extend` (issue 11, "Extend"): the CA certificate re-issued with the same key,
 * subject and serial and a later end date; certificates issued before still verify against
 * it with openssl (with the CRL too), `ca list` and the server warn within 90 days of the
 * CA certificate's or the CRL's end, and a running server serves the extended certificate.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { CertificateAuthority } from "../src/ca/authority.js";
import { expiryWarnings } from "../src/ca/lifecycle/expiry.js";
import { extendCa } from "../src/ca/lifecycle/extend.js";
import { localPrincipal } from "../src/ca/principal.js";
import { setupCa } from "../src/ca/setup.js";
import { fleetca } from "./helpers/cli.js";
import { MemoryStore } from "./helpers/memory-store.js";
import { openssl, tmpDir, verifyWithCrl } from "./helpers/openssl.js";
import { makeAgent, puppetMissing, puppetSsl } from "./helpers/puppet.js";
import { startServer } from "./helpers/server-process.js";

const DAY_MS = 86_400_000;

async function ok(args: string[], cwd = tmpDir()): Promise<{ stdout: string; stderr: string }> {
  const r = await fleetca(args, cwd);
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r;
}

const verify = (caFile: string, certFile: string, crlFile?: string) =>
  openssl(["verify", "-CAfile", caFile, ...(crlFile ? ["-crl_check", "-CRLfile", crlFile] : []), certFile]);

test("extend: same key, subject, serial and key identifier, a later end; older certificates and the CRL verify against it; list stops warning", async () => {
  const root = tmpDir();
  const cadir = path.join(root, "ca");
  await ok(["ca", "setup", "--cadir", cadir, "--key-type", "ec", "--certname", "ca.example.com", "--ca-ttl", "30d"]);
  for (const n of ["a.example.com", "b.example.com"]) await ok(["ca", "generate", n, "--cadir", cadir, "--key-type", "ec"]);
  await ok(["ca", "revoke", "b.example.com", "--cadir", cadir]);
  const caFile = path.join(cadir, "ca_crt.pem");
  const crlFile = path.join(cadir, "ca_crl.pem");
  const oldCa = new X509Certificate(fs.readFileSync(caFile));
  const crlBefore = fs.readFileSync(crlFile, "utf8");

  // Within 90 days: said on stderr for people, as a field of the JSON object for programs.
  const warned = await ok(["ca", "list", "--all", "--cadir", cadir]);
  assert.match(warned.stderr, /Warning: the CA certificate "Puppet CA: ca\.example\.com" expires on \S+ \(in 29 days\).*Fix: fleetca ca extend/);
  assert.doesNotMatch(warned.stderr, /CRL/, "the CRL is good for years");
  assert.doesNotMatch(warned.stdout, /Warning/);
  const warnedJson = JSON.parse((await ok(["ca", "list", "--all", "--format", "json", "--cadir", cadir])).stdout) as { expiryWarnings?: { what: string; fix: string; at: string }[]; signed: unknown[] };
  assert.equal(warnedJson.signed.length, 1);
  assert.deepEqual(warnedJson.expiryWarnings?.map((w) => [w.what, w.fix, w.at]), [["ca-certificate", "fleetca ca extend", new Date(oldCa.validTo).toISOString()]]);

  // A ttl that would not move the end date later is refused, and nothing changes.
  const short = await fleetca(["ca", "extend", "--cadir", cadir, "--ca-ttl", "10d", "--backup-out", path.join(root, "short.fleetca")]);
  assert.equal(short.code, 1, short.stderr);
  assert.match(short.stderr, /not after its current end .*pass a longer --ca-ttl/);
  assert.equal(new X509Certificate(fs.readFileSync(caFile)).fingerprint256, oldCa.fingerprint256);

  const backup = path.join(root, "before-extend.fleetca");
  const out = JSON.parse((await ok(["ca", "extend", "--cadir", cadir, "--ca-ttl", "5y", "--format", "json", "--backup-out", backup])).stdout) as Record<string, string>;
  assert.ok(fs.statSync(backup).size > 0, "a backup was taken first");
  assert.equal(out.backup, backup);
  const newCa = new X509Certificate(fs.readFileSync(caFile));
  assert.notEqual(newCa.fingerprint256, oldCa.fingerprint256);
  assert.equal(newCa.subject, oldCa.subject);
  assert.equal(newCa.issuer, oldCa.issuer);
  assert.equal(newCa.serialNumber, oldCa.serialNumber, "the serial the issued certificates' authority key identifiers name");
  assert.ok(newCa.publicKey.equals(oldCa.publicKey), "the same key");
  assert.ok(newCa.verify(oldCa.publicKey), "self-signed by that key");
  const ext = (c: X509Certificate) => openssl(["x509", "-noout", "-ext", "subjectKeyIdentifier,authorityKeyIdentifier,basicConstraints,keyUsage"], c.toString()).out;
  assert.match(ext(oldCa), /Subject Key Identifier/);
  assert.equal(ext(newCa), ext(oldCa));
  const end = new Date(newCa.validTo).getTime();
  assert.ok(end > new Date(oldCa.validTo).getTime() + 4 * 365 * DAY_MS, `ends ${newCa.validTo}`);
  assert.equal(out.notAfter, new Date(end).toISOString());
  assert.equal(fs.readFileSync(crlFile, "utf8"), crlBefore, "the CRL is not touched");

  // What a user would check: openssl against the extended CA, with and without the CRL.
  const a = path.join(cadir, "signed", "a.example.com.pem");
  const b = path.join(cadir, "signed", "b.example.com.pem");
  assert.match(verify(caFile, a).out, /OK/);
  const withCrl = verify(caFile, a, crlFile);
  assert.ok(withCrl.ok, withCrl.out);
  assert.ok(verifyWithCrl(fs.readFileSync(caFile, "utf8"), crlBefore, fs.readFileSync(a, "utf8")).ok);
  const revoked = verify(caFile, b, crlFile);
  assert.ok(!revoked.ok);
  assert.match(revoked.out, /certificate revoked/);
  const crl = openssl(["crl", "-noout", "-CAfile", caFile, "-in", crlFile]);
  assert.match(crl.out, /verify OK/);

  const quiet = await ok(["ca", "list", "--all", "--cadir", cadir]);
  assert.doesNotMatch(quiet.stderr, /Warning/);
  const quietJson = JSON.parse((await ok(["ca", "list", "--all", "--format", "json", "--cadir", cadir])).stdout) as Record<string, unknown>;
  assert.equal(quietJson.expiryWarnings, undefined);
  const audit = fs.readFileSync(path.join(cadir, "audit.log"), "utf8").split("\n").filter((l) => l.includes('"extended"'));
  assert.equal(audit.length, 1, "one audit record");
});

test("server: warns at start about a CA certificate and a CRL ending within 90 days, and serves the extended CA without a restart", async () => {
  const s = await startServer({ dir: tmpDir(), config: "key_type: ec\nca_ttl: 30d\ncrl_ttl: 60d\n" });
  try {
    const ca = await s.waitForLog((l) => l.what === "ca-certificate");
    assert.equal(ca.level, 40, "a warning");
    assert.match(String(ca.msg), /CA certificate .* expires on \S+ \(in 2\d days\).*Fix: fleetca ca extend/);
    const crl = await s.waitForLog((l) => l.what === "crl");
    assert.match(String(crl.msg), /CRL expires on \S+ \(in 59 days\).*Fix: fleetca ca refresh-crl/);
    const before = fs.readFileSync(path.join(s.ssldir, "certs", "ca.pem"), "utf8");
    await ok(["ca", "extend", "--config", s.configFile, "--cadir", s.cadir, "--ca-ttl", "5y", "--backup-out", path.join(s.dir, "b.fleetca")]);
    const extended = await s.waitForLog((l) => l.msg === "ca extended");
    const served = fs.readFileSync(path.join(s.ssldir, "certs", "ca.pem"), "utf8");
    assert.notEqual(served, before);
    assert.equal(new X509Certificate(served).fingerprint256, new X509Certificate(fs.readFileSync(path.join(s.cadir, "ca_crt.pem"))).fingerprint256);
    assert.equal(extended.notAfter, new Date(new X509Certificate(served).validTo).toISOString());
    assert.equal(s.logs().filter((l) => String(l.msg).startsWith("ca changed")).length, 0, "not reported as a new CA: nobody must re-enroll");
  } finally {
    await s.stop();
  }
});

test("a real Puppet 7 agent keeps working with its cached CA certificate after an extend, and gets the extended one by the documented step", { skip: puppetMissing() ?? false }, async () => {
  const dir = tmpDir("fleetca-extend-puppet-");
  const s = await startServer({ dir: path.join(dir, "server"), config: "key_type: ec\nautosign: true\nca_ttl: 30d\n" });
  try {
    const a = makeAgent(path.join(dir, "agents"), "node1.example.com");
    const boot = await puppetSsl("bootstrap", a, s.port, ["--waitforcert", "0"]);
    assert.equal(boot.code, 0, boot.out);
    const cached = path.join(a.ssldir, "certs", "ca.pem");
    const oldCa = new X509Certificate(fs.readFileSync(cached));
    await ok(["ca", "extend", "--config", s.configFile, "--cadir", s.cadir, "--ca-ttl", "5y", "--backup-out", path.join(dir, "b.fleetca")]);
    await s.waitForLog((l) => l.msg === "ca extended");
    const extended = new X509Certificate(fs.readFileSync(path.join(s.cadir, "ca_crt.pem")));

    // The old cached copy: same key and name, so the server's TLS certificate still verifies against it.
    const still = await puppetSsl("download_cert", a, s.port);
    assert.equal(still.code, 0, still.out);
    assert.match(still.out, /Downloaded certificate 'node1\.example\.com'/);
    assert.equal(new X509Certificate(fs.readFileSync(cached)).fingerprint256, oldCa.fingerprint256, "Puppet 7 does not refresh its CA certificate by itself");

    // The documented step (docs/regenerate.md): remove the cached CA certificate, bootstrap again; key and certificate stay.
    fs.rmSync(cached);
    const again = await puppetSsl("bootstrap", a, s.port, ["--waitforcert", "0"]);
    assert.equal(again.code, 0, again.out);
    assert.equal(new X509Certificate(fs.readFileSync(cached)).fingerprint256, extended.fingerprint256);
    assert.ok(!again.out.includes("Submitted certificate request"), "no re-enrollment");
  } finally {
    await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("warnings follow the clock: none 91 days out, the CA's and the CRL's within 90, gone once the CRL is re-signed before nextUpdate and the CA extended", async () => {
  const T0 = new Date("2027-03-01T12:00:00Z");
  const store = new MemoryStore();
  // CA until T0 + 200 days, CRL until T0 + 180 days.
  await setupCa(store, { caName: "Puppet CA: clock", key: { type: "ec", curve: "P-256" }, caTtl: 200 * 86_400, crlTtl: 180 * 86_400, now: T0 });
  const clock = { now: T0 };
  const ca = new CertificateAuthority({ store, settings: { caTtl: 86_400, crlTtl: 180 * 86_400, allowSubjectAltNames: false, allowAuthorizationExtensions: false, allowDuplicateCerts: false }, clock: () => clock.now });
  const whats = async () => expiryWarnings(await ca.current(true), clock.now).map((w) => `${w.what} ${w.daysLeft} ${w.fix}`);
  const at = (days: number) => (clock.now = new Date(T0.getTime() + days * DAY_MS));
  assert.deepEqual(await whats(), []);
  at(89);
  assert.deepEqual(await whats(), [], "91 days before the CRL's end");
  at(91);
  assert.deepEqual(await whats(), ["crl 89 fleetca ca refresh-crl"]);
  at(125);
  assert.deepEqual(await whats(), ["ca-certificate 75 fleetca ca extend", "crl 55 fleetca ca refresh-crl"]);
  // What the server's timer calls: due after two thirds of the CRL's life, long before nextUpdate.
  const r = await ca.refreshCrl(localPrincipal("root", "ca1"));
  assert.ok(r.resigned);
  assert.equal(r.nextUpdate.getTime(), clock.now.getTime() + 180 * DAY_MS);
  assert.deepEqual(await whats(), ["ca-certificate 75 fleetca ca extend"]);
  await extendCa(ca, { caTtl: 5 * 365 * 86_400, now: clock.now, by: localPrincipal("root", "ca1") });
  assert.deepEqual(await whats(), []);
  at(125 + 5 * 365 - 89);
  assert.match((await whats()).join(), /^ca-certificate 8[89] fleetca ca extend,crl -\d+ /, "an extended CA warns again within 90 days of its new end (and the CRL, left alone for years here, has expired)");
});
