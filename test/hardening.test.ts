/**
 * Holes found by attacking the CA (issue 13), each closed by a test that failed before its
 * fix: in process over the file store, every certificate checked by openssl.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { CertificateAuthority, type CaSettings } from "../src/ca/authority.js";
import { AUTOSIGN_ON, globAutosigner, type Autosigner } from "../src/ca/autosign.js";
import { localPrincipal, systemPrincipal } from "../src/ca/principal.js";
import { setupCa } from "../src/ca/setup.js";
import { certToPem, issueCertificate, parseCertificatePem } from "../src/pki/certificate.js";
import { csrToPem } from "../src/pki/csr.js";
import { bitString, bool, integer, octets, oid, seq, set, tlv, utf8 } from "../src/pki/der.js";
import { generateKeyPair, loadPrivateKey, signAsync, signatureSchemeFor, spkiDer } from "../src/pki/keys.js";
import { cnName } from "../src/pki/name.js";
import { OID } from "../src/pki/oids.js";
import { caPermissionProblems } from "../src/host/startup-checks.js";
import { FileStore } from "../src/store/file/index.js";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { openssl, tmpDir, verifyWithCrl } from "./helpers/openssl.js";

const base: CaSettings = { caTtl: 86_400, allowSubjectAltNames: false, allowAuthorizationExtensions: false, allowDuplicateCerts: false };
const operator = localPrincipal("alice", "ca1");
const agent = systemPrincipal("agent", "10.0.0.9");
const EC = { type: "ec", curve: "P-256" } as const;

async function makeCa(settings: Partial<CaSettings> = {}, autosigner?: Autosigner) {
  const cadir = path.join(tmpDir(), "ca");
  const store = new FileStore(cadir);
  await setupCa(store, { caName: "Puppet CA: hardening", key: EC, caTtl: 86_400 * 365, now: new Date() });
  const ca = new CertificateAuthority({ store, settings: { ...base, ...settings }, autosigner });
  return { cadir, store, ca, pem: (f: string) => fs.readFileSync(path.join(cadir, f), "utf8") };
}

async function enrolled(ca: CertificateAuthority, name: string) {
  await ca.submitRequest(name, opensslCsr(name).csrPem, agent);
  return ca.sign(name, { by: operator });
}

describe("revoking a name revokes what a renewal replaced", () => {
  for (const how of ["revoke", "clean"] as const) {
    test(`${how} NAME after a renewal revokes the replaced certificate too`, async () => {
      const { ca, pem, cadir } = await makeCa();
      const first = await enrolled(ca, "node.example.com");
      const firstPem = pem("signed/node.example.com.pem");
      const renewed = await ca.renew(first, systemPrincipal("node.example.com", "10.0.0.9"));
      const results = how === "revoke" ? await ca.revoke(["node.example.com"], operator) : await ca.clean(["node.example.com"], operator);
      assert.deepEqual(results, [{ name: "node.example.com" }]);
      const crl = pem("ca_crl.pem");
      const old = verifyWithCrl(pem("ca_crt.pem"), crl, firstPem);
      assert.equal(old.ok, false, "the certificate held before the renewal no longer verifies");
      assert.match(old.out, /revoked/);
      const records = await ca.store.listRevocations();
      assert.deepEqual(records.map((r) => [r.serial, r.name]).sort(), [[first.serial, "node.example.com"], [renewed.serial, "node.example.com"]].sort());
      if (how === "clean") assert.equal(fs.existsSync(path.join(cadir, "signed/node.example.com.pem")), false);
    });
  }

  test("a second revoke of the name succeeds; a name cleaned before is not found", async () => {
    const { ca } = await makeCa();
    const first = await enrolled(ca, "again.example.com");
    await ca.renew(first, operator);
    await ca.revoke(["again.example.com"], operator);
    assert.deepEqual(await ca.revoke(["again.example.com"], operator), [{ name: "again.example.com" }]);
    await ca.clean(["again.example.com"], operator);
    const [r] = await ca.revoke(["again.example.com"], operator);
    assert.equal(r!.error?.kind, "not-found");
  });
});

describe("a trailing-dot twin of a name is the same name", () => {
  const glob = globAutosigner("autosign.conf", async () => "*.example.com\n", () => undefined);
  for (const [label, autosigner] of [["autosign true", AUTOSIGN_ON], ["an autosign glob", glob]] as const) {
    test(`with ${label}, victim.example.com. is refused once victim.example.com is signed, and the other way round`, async () => {
      const { ca, cadir } = await makeCa({}, autosigner);
      assert.equal((await ca.submitRequest("victim.example.com", opensslCsr("victim.example.com").csrPem, agent)).state, "signed");
      await assert.rejects(ca.submitRequest("victim.example.com.", opensslCsr("victim.example.com.").csrPem, agent), (e: Error & { kind?: string }) => {
        assert.equal(e.kind, "duplicate-cert");
        assert.match(e.message, /same host name as victim\.example\.com/);
        return true;
      });
      assert.equal(fs.existsSync(path.join(cadir, "signed/victim.example.com..pem")), false);
      assert.equal(fs.existsSync(path.join(cadir, "requests/victim.example.com..pem")), false);
      assert.equal((await ca.submitRequest("dotted.example.com.", opensslCsr("dotted.example.com.").csrPem, agent)).state, "signed");
      await assert.rejects(ca.submitRequest("dotted.example.com", opensslCsr("dotted.example.com").csrPem, agent), /same host name/);
    });
  }

  test("both spellings submitted at the same moment with autosign on: one is signed, the other refused", async () => {
    const { ca, cadir } = await makeCa({}, AUTOSIGN_ON);
    // Neither exists when the other's submission is checked; the CA lock decides.
    const results = await Promise.allSettled([
      ca.submitRequest("race.example.com", opensslCsr("race.example.com").csrPem, agent),
      ca.submitRequest("race.example.com.", opensslCsr("race.example.com.").csrPem, agent),
    ]);
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason as Error & { kind?: string }] : []));
    assert.equal(refused.length, 1, "exactly one spelling is refused");
    assert.equal(refused[0]!.kind, "duplicate-cert");
    assert.match(refused[0]!.message, /same host name as race\.example\.com/);
    const signed = fs.readdirSync(path.join(cadir, "signed")).filter((f) => f.startsWith("race."));
    assert.equal(signed.length, 1, `one certificate on disk, not both spellings: ${signed.join(", ")}`);
    const x509 = openssl(["x509", "-noout", "-subject", "-in", path.join(cadir, "signed", signed[0]!)]);
    assert.ok(x509.ok, x509.out);
  });

  test("with both spellings pending, sign --all signs the first and refuses its twin", async () => {
    const { ca, cadir } = await makeCa();
    // Both spellings already pending (stored before this check, or by another tool).
    await ca.submitRequest("twin.example.com", opensslCsr("twin.example.com").csrPem, agent);
    fs.writeFileSync(path.join(cadir, "requests/twin.example.com..pem"), opensslCsr("twin.example.com.").csrPem);
    const results = await ca.signAll({ by: operator });
    assert.deepEqual(results.map((r) => [r.name, r.error?.kind]), [["twin.example.com", undefined], ["twin.example.com.", "duplicate-cert"]]);
  });
});

/** A CSR for `cn` with a key made by `openssl req -newkey <newkey...>`. */
function csrWithKey(cn: string, newkey: string[]): string {
  const d = tmpDir();
  const r = spawnSync("openssl", ["req", "-new", ...newkey, "-nodes", "-keyout", path.join(d, "k.pem"), "-subj", `/CN=${cn}`], { encoding: "utf8" });
  fs.rmSync(d, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe("key policy", () => {
  const weak: [string, string[], RegExp][] = [
    ["RSA-512", ["-newkey", "rsa:512"], /RSA key of 512 bits, too weak: this CA signs RSA keys of at least 2048 bits/],
    ["RSA-1024", ["-newkey", "rsa:1024"], /RSA key of 1024 bits, too weak/],
    ["secp256k1", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"], /key on secp256k1, which is not allowed: .*P-256, P-384, P-521 \(min_rsa_key_size, allowed_key_curves\)/],
    ["Ed25519", ["-newkey", "ed25519"], /key on Ed25519, which is not allowed/],
  ];
  for (const [label, newkey, message] of weak) {
    test(`a ${label} request is refused at submission with autosign on, and nothing is stored`, async () => {
      const { ca, cadir } = await makeCa({}, AUTOSIGN_ON);
      await assert.rejects(ca.submitRequest("weak.example.com", csrWithKey("weak.example.com", newkey), agent), (e: Error & { kind?: string }) => {
        assert.equal(e.kind, "invalid-csr");
        assert.match(e.message, message);
        return true;
      });
      assert.deepEqual(fs.readdirSync(path.join(cadir, "requests")), []);
      assert.deepEqual(fs.readdirSync(path.join(cadir, "signed")), []);
    });
  }

  test("RSA-2048, P-384 and P-521 keys are signed; the settings move the bounds", async () => {
    const { ca } = await makeCa({}, AUTOSIGN_ON);
    for (const [name, newkey] of [["rsa.example.com", ["-newkey", "rsa:2048"]], ["p384.example.com", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]], ["p521.example.com", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"]]] as const) {
      assert.equal((await ca.submitRequest(name, csrWithKey(name, [...newkey]), agent)).state, "signed", name);
    }
    const loose = (await makeCa({ minRsaKeySize: 1024, allowedKeyCurves: ["Ed25519"] }, AUTOSIGN_ON)).ca;
    assert.equal((await loose.submitRequest("old.example.com", csrWithKey("old.example.com", ["-newkey", "rsa:1024"]), agent)).state, "signed");
    assert.equal((await loose.submitRequest("ed.example.com", csrWithKey("ed.example.com", ["-newkey", "ed25519"]), agent)).state, "signed");
    await assert.rejects(loose.submitRequest("p256.example.com", opensslCsr("p256.example.com").csrPem, agent), /key on P-256, which is not allowed/);
  });
});

/** A CSR for `cn` whose extensionRequest holds `extensions` as raw DER, as no honest builder writes them. */
async function rawCsr(cn: string, extensions: Buffer[]): Promise<string> {
  const keys = await generateKeyPair(EC);
  const attrs = [seq(oid(OID.extensionRequest), set(seq(...extensions)))];
  const info = seq(integer(0), cnName(cn), spkiDer(keys.publicKey), tlv(0xa0, attrs));
  const scheme = signatureSchemeFor(keys.privateKey);
  return csrToPem(seq(info, scheme.algorithmDer, bitString(await signAsync(info, keys.privateKey, scheme))));
}

const PP_ROLE = "1.3.6.1.4.1.34380.1.1.13";
/** pp_role's OID with a sub-identifier padded by 0x80: read leniently, it is still pp_role. */
const PADDED_OID = tlv(0x06, Buffer.from([0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x8c, 0x4c, 0x80, 0x01, 0x01, 0x0d]));

describe("malformed DER in a request's extensions", () => {
  const role = octets(utf8("web"));
  const malformed: [string, Buffer][] = [
    ["an extra element after the value", seq(oid(PP_ROLE), role, octets(utf8("more")))],
    ["0x80 padding in the extension's OID", seq(PADDED_OID, role)],
    ["a zero-length BOOLEAN", seq(oid(PP_ROLE), tlv(0x01, []), role)],
    ["a value whose inner length runs past its end", seq(oid(PP_ROLE), octets(Buffer.from([0x0c, 0x05, 0x61, 0x62])))],
    ["a value with bytes after it", seq(oid(PP_ROLE), octets(Buffer.concat([utf8("web"), Buffer.from([0x00])])))],
  ];
  for (const [label, ext] of malformed) {
    test(`${label}: refused at submission, nothing stored or signed`, async () => {
      const { ca, cadir } = await makeCa({}, AUTOSIGN_ON);
      await assert.rejects(ca.submitRequest("bad.example.com", await rawCsr("bad.example.com", [ext]), agent), (e: Error & { kind?: string }) => {
        assert.equal(e.kind, "invalid-csr");
        assert.match(e.message, /not DER|expected an id, an optional critical flag and a value/);
        return true;
      });
      assert.deepEqual(fs.readdirSync(path.join(cadir, "signed")), []);
      assert.deepEqual(fs.readdirSync(path.join(cadir, "requests")), []);
    });
  }

  test("an explicit critical FALSE is written canonically (omitted), and openssl reads the certificate", async () => {
    const { ca, pem } = await makeCa({}, AUTOSIGN_ON);
    const csr = await rawCsr("fine.example.com", [seq(oid(PP_ROLE), bool(false), role)]);
    assert.equal((await ca.submitRequest("fine.example.com", csr, agent)).state, "signed");
    const text = openssl(["x509", "-noout", "-text"], pem("signed/fine.example.com.pem"));
    assert.ok(text.ok, text.out);
    assert.match(text.out, /1\.3\.6\.1\.4\.1\.34380\.1\.1\.13:\s*\n\s*\.\.web/);
    assert.equal((await ca.verifyCertificate("fine.example.com")).ok, true);
  });

  test("ca verify does not call a certificate verified that openssl cannot read", async () => {
    const { ca, store, pem, cadir } = await makeCa();
    const m = await store.loadCaMaterial();
    const caCert = parseCertificatePem(m.certPem);
    const keys = await generateKeyPair(EC);
    const now = Date.now();
    // Signed by the CA's own key, as the old code signed what a CSR carried.
    const der = await issueCertificate(
      { serial: 99n, issuer: caCert.subjectDer, subject: cnName("odd.example.com"), notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000), spki: spkiDer(keys.publicKey), extensions: [seq(oid(PP_ROLE), tlv(0x01, []), role)] },
      loadPrivateKey(m.keyPem),
    );
    fs.writeFileSync(path.join(cadir, "signed/odd.example.com.pem"), certToPem(der));
    assert.equal(openssl(["x509", "-noout", "-text"], pem("signed/odd.example.com.pem")).ok, false, "openssl cannot read it");
    const v = await ca.verifyCertificate("odd.example.com");
    assert.equal(v.ok, false);
    assert.match(v.problems.join("; "), /relying parties cannot read it/);
  });
});

describe("who becomes an administrator", () => {
  test("a name on admin_allow_list is never autosigned: it stays pending, saying why", async () => {
    const { ca } = await makeCa({ adminAllowList: ["admin.example.com"] }, AUTOSIGN_ON);
    for (const name of ["admin.example.com", "admin.example.com."]) {
      const r = await ca.submitRequest(name, opensslCsr(name).csrPem, agent);
      assert.equal(r.state, "requested", name);
      assert.match(r.autosign!.reason, /on admin_allow_list: an administrator's certificate is signed by hand/);
      await ca.deleteRequest(name, operator);
    }
    assert.equal((await ca.submitRequest("node.example.com", opensslCsr("node.example.com").csrPem, agent)).state, "signed");
  });

  for (const [label, autosign] of [["autosign true", "true"], ["a glob that matches it", "GLOB"]] as const) {
    test(`the server refuses to start with an allow-listed admin and ${label}`, async () => {
      const d = tmpDir();
      let value: string = autosign;
      if (autosign === "GLOB") {
        value = path.join(d, "autosign.conf");
        fs.writeFileSync(value, "# agents\n*.example.com\n");
      }
      const config = path.join(d, "fleetca.yaml");
      fs.writeFileSync(config, `cadir: ${d}/ca\nssldir: ${d}/ssl\nkey_type: ec\nbind: 127.0.0.1\nport: 1\nautosign: ${value}\nadmin_allow_list: [ops.example.com]\n`);
      const r = await fleetca(["server", "--config", config]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /ops\.example\.com is on admin_allow_list and autosign would sign it/);
      assert.match(r.stderr, autosign === "GLOB" ? /'\*\.example\.com' \(line 2 of .*autosign\.conf\) matches it/ : /autosign is true/);
      assert.match(r.stderr, /The server did not start/);
    });
  }
});

describe("the CA's file modes", () => {
  for (const [label, what, mode, fix] of [
    ["a world-readable CA key", "ca_key.pem", 0o644, /The CA key .*ca_key\.pem is open to every user on this host \(mode 0644\).*chmod o-rwx/],
    ["a world-writable CA directory", "signed", 0o777, /The CA directory .*signed is writable by every user on this host \(mode 0777\).*chmod o-w/],
  ] as const) {
    test(`${label}: the server refuses to start and says how to fix the modes (ca_permissions: refuse)`, async () => {
      const d = tmpDir();
      const config = path.join(d, "fleetca.yaml");
      fs.writeFileSync(config, `cadir: ${d}/ca\nssldir: ${d}/ssl\nkey_type: ec\nbind: 127.0.0.1\nport: 1\n`);
      await setupCa(new FileStore(path.join(d, "ca")), { caName: "Puppet CA: modes", key: EC, caTtl: 86_400 * 365, now: new Date() });
      fs.chmodSync(path.join(d, "ca", what), mode);
      const r = await fleetca(["server", "--config", config]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, fix);
      assert.match(r.stderr, /set ca_permissions: warn to start anyway/);
      assert.deepEqual(caPermissionProblems(path.join(d, "ca")).length, 1);
      fs.chmodSync(path.join(d, "ca", what), what === "signed" ? 0o750 : 0o600);
      assert.deepEqual(caPermissionProblems(path.join(d, "ca")), []);
    });
  }
});
