/** publicKeyFromSpki (the CSR hot path's key import) must give the same key as OpenSSL's DER decoder. */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { test } from "node:test";
import { publicKeyFromSpki } from "./keys.js";

const specs: [string, { publicKey: crypto.KeyObject; privateKey: crypto.KeyObject }][] = [
  ["RSA-2048", crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })],
  ["RSA-1024, e=3", crypto.generateKeyPairSync("rsa", { modulusLength: 1024, publicExponent: 3 })],
  ["P-256", crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" })],
  ["P-384", crypto.generateKeyPairSync("ec", { namedCurve: "secp384r1" })],
  ["Ed25519 (DER fallback)", crypto.generateKeyPairSync("ed25519")],
  ["P-521 (DER fallback)", crypto.generateKeyPairSync("ec", { namedCurve: "secp521r1" })],
];

for (const [label, { publicKey, privateKey }] of specs) {
  test(`publicKeyFromSpki: ${label} equals the DER-decoded key and verifies its signatures`, () => {
    const spki = publicKey.export({ type: "spki", format: "der" });
    const key = publicKeyFromSpki(spki);
    assert.ok(key.equals(publicKey));
    const data = Buffer.from("tbs");
    const hash = privateKey.asymmetricKeyType === "ed25519" ? null : "sha256";
    assert.ok(crypto.verify(hash, data, key, crypto.sign(hash, data, privateKey)));
  });
}

test("publicKeyFromSpki refuses an EC point that is not on the curve", () => {
  const spki = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({ type: "spki", format: "der" });
  const bad = Buffer.from(spki);
  bad[bad.length - 1]! ^= 0x01; // last byte of y
  assert.throws(() => publicKeyFromSpki(bad));
});

test("publicKeyFromSpki refuses garbage like the DER decoder does", () => {
  assert.throws(() => publicKeyFromSpki(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])));
});
