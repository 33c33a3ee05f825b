/** toPemReusing and pemLines must always give exactly toPem's bytes, whatever the previous pair was. */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { test } from "node:test";
import { crlStateFromPem, emptyCrlState, signCrl, withRevocations } from "./crl.js";
import { toPem } from "./pem.js";
import { pemLines, toPemReusing, type PemPair } from "./pem-reuse.js";

const LABEL = "X509 CRL";
const pemOf = (der: Buffer) => Buffer.from(toPem(der, LABEL), "latin1");

test("a CRL growing revoke by revoke: each PEM reuses the previous one's lines and equals toPem", async () => {
  const key = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
  const issuer = Buffer.from("300f310d300b06035504030c0474657374", "hex");
  const t0 = new Date("2026-01-01T00:00:00Z");
  let state = emptyCrlState(issuer, Buffer.alloc(20, 7), t0, new Date("2031-01-01T00:00:00Z"));
  let prev: PemPair | undefined;
  let serial = 1000n;
  // Sizes cross the DER length-of-length boundaries (128 bytes, 64 KiB), where offsets shift.
  for (const add of [1, 3, 200, 1, 1, 2000, 1, 1, 1]) {
    const when = new Date(t0.getTime() + Number(serial) * 1000);
    state = withRevocations(state, Array.from({ length: add }, () => ({ serial: serial++, when })), when, new Date("2031-01-01T00:00:00Z"));
    const der = await signCrl(state, key);
    const pem = toPemReusing(der, LABEL, prev);
    assert.ok(pem.equals(pemOf(der)), `after ${state.serials.size} entries`);
    assert.equal(crlStateFromPem(pem.toString("latin1")).serials.size, state.serials.size);
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
    const prev = { der: base, pem: pemOf(base) };
    assert.ok(toPemReusing(grown, LABEL, prev).equals(pemOf(grown)), `round ${round}`);
    // Any run of lines, as the staged CRL write asks for them (first line, middle, tail).
    const lines = Math.ceil(grown.length / 48);
    const from = Math.floor(Math.random() * lines);
    const to = from + Math.floor(Math.random() * (lines - from + 1));
    const whole = pemOf(grown);
    const head = `-----BEGIN ${LABEL}-----\n`.length;
    const expected = whole.subarray(head + from * 65, Math.min(whole.length - `-----END ${LABEL}-----\n`.length, head + to * 65));
    assert.ok(pemLines(grown, LABEL, from, to, prev).equals(expected), `round ${round}: lines ${from}..${to}`);
  }
});

test("a previous PEM not laid out as toPem writes it (CRLF, other line length) is not reused", () => {
  const base = crypto.randomBytes(4000);
  const next = Buffer.concat([base, crypto.randomBytes(10)]);
  const crlf = { der: base, pem: Buffer.from(toPem(base, LABEL).replace(/\n/g, "\r\n"), "latin1") };
  assert.ok(toPemReusing(next, LABEL, crlf).equals(pemOf(next)));
  const b64 = base.toString("base64");
  const lines76 = { der: base, pem: Buffer.from(`-----BEGIN X509 CRL-----\n${b64.match(/.{1,76}/g)!.join("\n")}\n-----END X509 CRL-----\n`, "latin1") };
  assert.ok(toPemReusing(next, LABEL, lines76).equals(pemOf(next)));
});
