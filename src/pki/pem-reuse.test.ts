/** toPemReusing must always give exactly toPem's output, whatever the previous pair was. */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { test } from "node:test";
import { crlStateFromPem, crlToPemAfter, emptyCrlState, signCrl, withRevocations } from "./crl.js";
import { toPem } from "./pem.js";
import { toPemReusing } from "./pem-reuse.js";

test("a CRL growing revoke by revoke: each PEM reuses the previous one's lines and equals toPem", async () => {
  const key = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
  const issuer = Buffer.from("300f310d300b06035504030c0474657374", "hex");
  const t0 = new Date("2026-01-01T00:00:00Z");
  let state = emptyCrlState(issuer, Buffer.alloc(20, 7), t0, new Date("2031-01-01T00:00:00Z"));
  let prev: { der: Buffer; pem: string } | undefined;
  let serial = 1000n;
  // Sizes cross the DER length-of-length boundaries (128 bytes, 64 KiB), where offsets shift.
  for (const add of [1, 3, 200, 1, 1, 2000, 1, 1, 1]) {
    const when = new Date(t0.getTime() + Number(serial) * 1000);
    state = withRevocations(state, Array.from({ length: add }, () => ({ serial: serial++, when })), when, new Date("2031-01-01T00:00:00Z"));
    const der = await signCrl(state, key);
    const pem = crlToPemAfter(der, prev);
    assert.equal(pem, toPem(der, "X509 CRL"), `after ${state.serials.size} entries`);
    assert.equal(crlStateFromPem(pem).serials.size, state.serials.size);
    prev = { der, pem };
  }
});

test("random edits at the front, the middle and the end; lengths that are and are not multiples of 48", () => {
  for (let round = 0; round < 200; round++) {
    const base = crypto.randomBytes(600 + Math.floor(Math.random() * 3000));
    const next = Buffer.from(base);
    const edits = Math.floor(Math.random() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(Math.random() * next.length);
      next[at] = next[at]! ^ 0xff;
    }
    const grown = Math.random() < 0.5 ? Buffer.concat([next, crypto.randomBytes(Math.floor(Math.random() * 200))]) : next.subarray(0, next.length - Math.floor(Math.random() * 100));
    const prev = { der: base, pem: toPem(base, "X509 CRL") };
    assert.equal(toPemReusing(grown, "X509 CRL", prev), toPem(grown, "X509 CRL"), `round ${round}`);
  }
});

test("a previous PEM not laid out as toPem writes it (CRLF, other line length) is not reused", () => {
  const base = crypto.randomBytes(4000);
  const next = Buffer.concat([base, crypto.randomBytes(10)]);
  const crlf = { der: base, pem: toPem(base, "X509 CRL").replace(/\n/g, "\r\n") };
  assert.equal(toPemReusing(next, "X509 CRL", crlf), toPem(next, "X509 CRL"));
  const b64 = base.toString("base64");
  const lines76 = { der: base, pem: `-----BEGIN X509 CRL-----\n${b64.match(/.{1,76}/g)!.join("\n")}\n-----END X509 CRL-----\n` };
  assert.equal(toPemReusing(next, "X509 CRL", lines76), toPem(next, "X509 CRL"));
});
