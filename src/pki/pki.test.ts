import assert from "node:assert/strict";
import { test } from "node:test";
import { buildCsr, csrToPem, parseCsrPem, verifyCsrSignature } from "./csr.js";
import { certToPem, issueCertificate, parseCertificatePem } from "./certificate.js";
import { crlStateFromPem, crlToPem, emptyCrlState, signCrl, withRevocations } from "./crl.js";
import { generateKeyPair, spkiDer, type KeySpec } from "./keys.js";
import { cnName } from "./name.js";
import { caExtensions, leafExtensions } from "./profile.js";
import { keyIdentifier } from "./extensions.js";
import { PUPPET_SHORT_NAMES, OID } from "./oids.js";
import { csrVerifies, crlText, verifyWithCrl, x509Text } from "../../test/helpers/openssl.js";

const DAY = 86_400_000;

async function makeCa(spec: KeySpec) {
  const keys = await generateKeyPair(spec);
  const spki = spkiDer(keys.publicKey);
  const name = cnName("Puppet CA: test.example.com");
  const now = new Date();
  const der = await issueCertificate(
    { serial: 1n, issuer: name, subject: name, notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 5 * 365 * DAY), spki, extensions: caExtensions(spki) },
    keys.privateKey,
  );
  return { keys, spki, name, der, pem: certToPem(der) };
}

for (const spec of [{ type: "rsa", bits: 2048 }, { type: "ec", curve: "P-256" }] as KeySpec[]) {
  test(`CSR -> certificate -> CRL verifies with openssl (${spec.type})`, async () => {
    const ca = await makeCa(spec);
    const agent = await generateKeyPair({ type: "ec", curve: "P-256" });
    const csrDer = await buildCsr(
      {
        commonName: "node1.example.com",
        altNames: ["DNS:node1.example.com", "DNS:puppet", "IP:10.0.0.5"],
        extensionRequests: [{ oid: PUPPET_SHORT_NAMES.pp_role!, value: "webserver" }],
        attributes: [{ oid: OID.challengePassword, value: "s3cret pass" }],
      },
      agent.privateKey,
      agent.publicKey,
    );
    const csrPem = csrToPem(csrDer);
    assert.ok(csrVerifies(csrPem).ok, "openssl req -verify accepts the CSR");
    const csr = parseCsrPem(csrPem);
    assert.equal(csr.commonName, "node1.example.com");
    assert.deepEqual(csr.altNames, ["DNS:node1.example.com", "DNS:puppet", "IP:10.0.0.5"]);
    assert.equal(csr.attributes.find((a) => a.oid === OID.challengePassword)?.value, "s3cret pass");
    assert.equal(verifyCsrSignature(csr), true);
    const tampered = Buffer.from(csr.der);
    tampered[tampered.length - 5]! ^= 0xff;
    assert.equal(verifyCsrSignature(parseCsrPem(csrToPem(tampered))), false, "a flipped signature byte fails");

    const now = new Date();
    const leafDer = await issueCertificate(
      {
        serial: 2n, issuer: ca.name, subject: cnName(csr.commonName), notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 365 * DAY), spki: csr.spki,
        extensions: leafExtensions({ commonName: csr.commonName, spki: csr.spki, altNames: csr.altNames, copied: csr.extensions.filter((e) => e.oid !== OID.subjectAltName), caSpki: ca.spki, caIssuerDer: ca.name, caSerial: 1n }),
      },
      ca.keys.privateKey,
    );
    const leafPem = certToPem(leafDer);
    let crl = emptyCrlState(ca.name, keyIdentifier(ca.spki), now, new Date(now.getTime() + 5 * 365 * DAY));
    const emptyCrlPem = crlToPem(await signCrl(crl, ca.keys.privateKey));
    assert.ok(crlText(emptyCrlPem, ca.pem).out.includes("verify OK"), "openssl crl verifies the empty CRL");
    const ok = verifyWithCrl(ca.pem, emptyCrlPem, leafPem);
    assert.ok(ok.ok && ok.out.includes("OK"), ok.out);
    const text = x509Text(leafPem);
    assert.match(text, /IP Address:10.0.0.5, DNS:node1.example.com, DNS:puppet/);
    assert.match(text, /webserver/);
    assert.match(text, /CA:FALSE/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /DirName:\/CN=Puppet CA: test.example.com/);
    const parsed = parseCertificatePem(leafPem);
    assert.equal(parsed.serial, 2n);
    assert.equal(parsed.commonName, "node1.example.com");

    crl = withRevocations(crl, [{ serial: 2n, when: now }], now, crl.nextUpdate);
    const crlPem = crlToPem(await signCrl(crl, ca.keys.privateKey));
    const t = crlText(crlPem, ca.pem);
    assert.ok(t.out.includes("verify OK"), t.out);
    assert.match(t.out, /Serial Number: 02/);
    assert.match(t.out, /Key Compromise/);
    assert.match(t.out, /X509v3 CRL Number: \n\s+1/);
    const bad = verifyWithCrl(ca.pem, crlPem, leafPem);
    assert.equal(bad.ok, false);
    assert.match(bad.out, /certificate revoked/);

    const back = crlStateFromPem(crlPem);
    assert.equal(back.crlNumber, 1n);
    assert.ok(back.serials.has(2n));
    assert.deepEqual(back.entries, crl.entries);
  });
}

test("alt names: IPv6 with an embedded IPv4 tail round-trips; unknown kinds are not turned into DNS names", async () => {
  const { encodeAltNames, decodeAltNames } = await import("./altnames.js");
  assert.deepEqual(decodeAltNames(encodeAltNames(["IP:::ffff:1.2.3.4", "IP:2001:db8::1", "DNS:a"])), ["IP:0:0:0:0:0:FFFF:102:304", "IP:2001:DB8:0:0:0:0:0:1", "DNS:a"]);
  const other = Buffer.from([0x30, 0x05, 0xa0, 0x03, 0x06, 0x01, 0x2a]);
  const names = decodeAltNames(other);
  assert.deepEqual(names, ["othername:[0]"]);
  assert.throws(() => encodeAltNames(names), /unsupported alt name type "othername"/);
});
