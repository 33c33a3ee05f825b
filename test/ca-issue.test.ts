/**
 * The one issuing path and the revocation records, in process over the file store: renewal
 * goes through the same storage step, cap and audit as signing; revocations are records with
 * who, when and why; every outcome reaches the meter.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { AuditAction, Meter, Outcome } from "../src/ca/audit.js";
import { CertificateAuthority, type CaSettings } from "../src/ca/authority.js";
import { generateCertificate } from "../src/ca/generate.js";
import { localPrincipal, systemPrincipal } from "../src/ca/principal.js";
import { setupCa } from "../src/ca/setup.js";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { FileStore } from "../src/store/file/index.js";
import { opensslCsr } from "./helpers/cli.js";
import { tmpDir, verifyWithCrl } from "./helpers/openssl.js";

const base: CaSettings = { caTtl: 86_400, allowSubjectAltNames: false, allowAuthorizationExtensions: false, allowDuplicateCerts: false };
const operator = localPrincipal("alice", "ca1");
const EC = { type: "ec", curve: "P-256" } as const;

async function makeCa(settings: Partial<CaSettings> = {}) {
  const cadir = path.join(tmpDir(), "ca");
  const store = new FileStore(cadir);
  await setupCa(store, { caName: "Puppet CA: t", key: EC, caTtl: 86_400 * 365, now: new Date() });
  const outcomes: [AuditAction, Outcome, string][] = [];
  const meter: Meter = { outcome: (a, o, k) => void outcomes.push([a, o, k]) };
  const ca = new CertificateAuthority({ store, settings: { ...base, ...settings }, meter });
  return { cadir, store, ca, outcomes, pem: (f: string) => fs.readFileSync(path.join(cadir, f), "utf8") };
}

async function enrolled(ca: CertificateAuthority, name: string) {
  await ca.submitRequest(name, opensslCsr(name).csrPem, systemPrincipal("agent", "10.0.0.9"));
  return ca.sign(name, { by: operator });
}

test("a renewal is stored, inventoried and audited like any signing, and the old serial stays findable", async () => {
  const { ca, pem, store } = await makeCa();
  const first = await enrolled(ca, "node1.example.com");
  const node = systemPrincipal("node1.example.com", "10.0.0.9");
  const renewed = await ca.renew(first, node);
  assert.notEqual(renewed.serial, first.serial);
  assert.equal(parseCertificatePem(pem("signed/node1.example.com.pem")).serial, renewed.serial);
  assert.ok(verifyWithCrl(pem("ca_crt.pem"), pem("ca_crl.pem"), pem("signed/node1.example.com.pem")).ok);
  const inventory = pem("inventory.txt").trimEnd().split("\n").filter((l) => l.endsWith("/CN=node1.example.com"));
  assert.equal(inventory.length, 2, "both certificates are in the inventory");
  const audit = await ca.auditLog({ name: "node1.example.com", action: "renewed" });
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.who, "node1.example.com");
  assert.deepEqual(audit[0]!.serials, [renewed.serial.toString(16).toUpperCase()]);
  // The replaced certificate is no longer the name's current one, but its serial still names it.
  assert.equal(await store.findBySerial(first.serial, () => assert.fail("no summarizing needed")), undefined);
  assert.equal(await ca.nameOfSerial(first.serial), "node1.example.com");
});

test("a renewal after the certificate was revoked or replaced is refused, and the refusal is audited", async () => {
  const { ca } = await makeCa();
  const first = await enrolled(ca, "node2.example.com");
  await ca.renew(first, operator);
  await assert.rejects(ca.renew(first, operator), /revoked, cleaned or replaced while it was being renewed/);
  const second = parseCertificatePem(await ca.getCertificatePem("node2.example.com"));
  await ca.revoke(["node2.example.com"], operator);
  await assert.rejects(ca.renew(second, operator), /is revoked and cannot be renewed/);
  const refusals = (await ca.auditLog({ action: "renewed" })).filter((r) => r.outcome === "refused");
  assert.equal(refusals.length, 2);
});

test("renewal is capped like signing: a ca_ttl past 9999-12-31 is refused, not wrapped", async () => {
  const { ca, store } = await makeCa();
  const first = await enrolled(ca, "node3.example.com");
  const longLived = new CertificateAuthority({ store, settings: { ...base, caTtl: 9000 * 365 * 86_400 } });
  await assert.rejects(longLived.renew(first, operator), /ends after 9999-12-31/);
});

test("revocations are records: who, when, why, found by serial; the CRL is made from them", async () => {
  const { ca, pem } = await makeCa();
  const cert = await enrolled(ca, "gone.example.com");
  const before = new Date();
  await ca.revoke(["gone.example.com"], operator, "affiliationChanged");
  const record = await ca.revocation(cert.serial);
  assert.ok(record);
  assert.equal(record.name, "gone.example.com");
  assert.equal(record.reason, "affiliationChanged");
  assert.equal(record.by, "cli:alice@ca1");
  assert.ok(record.revokedAt.getTime() >= before.getTime() - 1000);
  const v = verifyWithCrl(pem("ca_crt.pem"), pem("ca_crl.pem"), pem("signed/gone.example.com.pem"));
  assert.equal(v.ok, false);
  assert.match(v.out, /certificate revoked/);
  // A second revoke succeeds (as in Puppet) and keeps the first record.
  await ca.revoke(["gone.example.com"], localPrincipal("bob", "ca2"), "superseded");
  assert.equal((await ca.revocation(cert.serial))?.by, "cli:alice@ca1");
  assert.equal((await ca.revocations()).length, 1);
});

test("clean revokes and removes in one step, recorded as one revocation and one clean", async () => {
  const { ca, cadir } = await makeCa();
  const cert = await enrolled(ca, "wiped.example.com");
  const [r] = await ca.clean(["wiped.example.com"], operator);
  assert.equal(r?.error, undefined);
  assert.equal(fs.existsSync(path.join(cadir, "signed/wiped.example.com.pem")), false);
  assert.equal((await ca.revocation(cert.serial))?.name, "wiped.example.com");
  const cleaned = await ca.auditLog({ action: "cleaned" });
  assert.deepEqual(cleaned.map((c) => [c.names[0], c.serials[0]]), [["wiped.example.com", cert.serial.toString(16).toUpperCase()]]);
  // The node can enroll again.
  await enrolled(ca, "wiped.example.com");
});

test("generate honours allow_duplicate_certs, and every outcome reaches the meter", async () => {
  const strict = await makeCa();
  await generateCertificate(strict.ca, "app.example.com", { by: operator, key: EC });
  await assert.rejects(generateCertificate(strict.ca, "app.example.com", { by: operator, key: EC }), /already has a signed certificate/);
  assert.deepEqual(strict.outcomes.filter(([a]) => a === "generated"), [["generated", "ok", "local"], ["generated", "refused", "local"]]);
  const lax = await makeCa({ allowDuplicateCerts: true });
  await generateCertificate(lax.ca, "app.example.com", { by: operator, key: EC });
  const again = await generateCertificate(lax.ca, "app.example.com", { by: operator, key: EC });
  assert.equal(parseCertificatePem(await lax.ca.getCertificatePem("app.example.com")).serial, again.cert.serial);
});

test("a refused submission is audited with its reason and the submitter's address", async () => {
  const { ca } = await makeCa();
  const agent = systemPrincipal("agent", "10.1.2.3");
  await assert.rejects(ca.submitRequest("a.example.com", opensslCsr("b.example.com").csrPem, agent), /does not match requested key/);
  const [refused] = await ca.auditLog({ action: "submitted" });
  assert.equal(refused?.outcome, "refused");
  assert.equal(refused?.from, "10.1.2.3");
  assert.match(refused?.reason ?? "", /Instance name "b.example.com" does not match/);
});

test("sign --all in bulk gives consecutive serials, one per certificate, and leaves the counter right after them", async () => {
  const { ca, pem } = await makeCa();
  const names = Array.from({ length: 40 }, (_, i) => `bulk${String(i).padStart(2, "0")}.example.com`);
  for (const n of names) await ca.submitRequest(n, opensslCsr(n).csrPem, systemPrincipal("agent", "10.0.0.9"));
  const counterBefore = BigInt(`0x${pem("serial").trim()}`);
  const results = await ca.signAll({ by: operator });
  assert.deepEqual(results.filter((r) => r.error), []);
  const serials = names.map((n) => parseCertificatePem(pem(`signed/${n}.pem`)).serial).sort((a, b) => (a < b ? -1 : 1));
  assert.deepEqual(serials, names.map((_, i) => counterBefore + BigInt(i)), "consecutive, from the counter on");
  assert.equal(BigInt(`0x${pem("serial").trim()}`), counterBefore + BigInt(names.length), "no reserved serial left unused");
  const listed = pem("inventory.txt").trimEnd().split("\n").slice(-names.length).map((l) => BigInt(l.split(" ")[0]!));
  assert.deepEqual([...listed].sort((a, b) => (a < b ? -1 : 1)), serials);
});

test("a request replaced while it is being signed is not removed with a certificate for the old key: the signing is refused, the new request stays", async () => {
  const { ca, store, cadir, pem } = await makeCa();
  const name = "swap.example.com";
  await ca.submitRequest(name, opensslCsr(name).csrPem, systemPrincipal("agent", "10.0.0.9"));
  const replacement = opensslCsr(name).csrPem;
  // Another tool (Puppet's, or a clean and a new submission) puts a request with another key
  // in place right after the signing read the first one.
  const read = store.getRequest.bind(store);
  let swapped = false;
  store.getRequest = async (n: string) => {
    const got = await read(n);
    if (!swapped) {
      swapped = true;
      fs.writeFileSync(path.join(cadir, "requests", `${n}.pem`), replacement);
    }
    return got;
  };
  await assert.rejects(ca.sign(name, { by: operator }), (e: Error & { kind?: string }) => e.kind === "conflict" && /replaced by another/.test(e.message));
  assert.ok(swapped);
  assert.equal(fs.existsSync(path.join(cadir, "signed", `${name}.pem`)), false, "no certificate for the key that is no longer requested");
  assert.equal(pem(`requests/${name}.pem`), replacement, "the new request is still pending");
  const refused = await ca.auditLog({ name, action: "signed" });
  assert.equal(refused.at(-1)?.outcome, "refused");
});

test("sign --all takes its serials ahead, and gives back those of requests it refused: the counter ends right after the certificates issued", async () => {
  const { ca, pem } = await makeCa();
  const names = Array.from({ length: 12 }, (_, i) => `ahead${String(i).padStart(2, "0")}.example.com`);
  // Every third request asks for alt names, which this CA refuses (allow_subject_alt_names off) before taking a serial.
  const refused = names.filter((_, i) => i % 3 === 0);
  for (const n of names) {
    const csr = refused.includes(n) ? opensslCsr(n, { san: `DNS:${n},DNS:other.example.com` }) : opensslCsr(n);
    await ca.submitRequest(n, csr.csrPem, systemPrincipal("agent", "10.0.0.9"));
  }
  const counterBefore = BigInt(`0x${pem("serial").trim()}`);
  const results = await ca.signAll({ by: operator });
  assert.deepEqual(results.filter((r) => r.error).map((r) => r.name), refused);
  const issued = names.filter((n) => !refused.includes(n));
  const serials = issued.map((n) => parseCertificatePem(pem(`signed/${n}.pem`)).serial).sort((a, b) => (a < b ? -1 : 1));
  assert.deepEqual(serials, issued.map((_, i) => counterBefore + BigInt(i)), "consecutive, from the counter on");
  assert.equal(BigInt(`0x${pem("serial").trim()}`), counterBefore + BigInt(issued.length), "the serials taken ahead for the refused requests went back");
});
