/**
 * One worker of the cost curve's fixture (fixture.ts): issues the certificates of the blocks
 * it is handed, writes signed/NAME.pem for each, and returns each block's inventory.txt lines
 * and index lines for the main thread to append in order.
 *
 * A TBSCertificate per certificate from buildTbs costs ~0.2 ms of JavaScript, more than the
 * signature: every certificate of the fixture differs from the next only in its name (fixed
 * width, fixtureName) and its serial, so one TBS per serial length is built by buildTbs and
 * copied with the name's and the serial's bytes replaced. The first certificate of every
 * block is checked byte for byte against buildTbs, so the copy cannot drift from what
 * fleetca issues. Each certificate is then signed by the CA key (P-256: ~0.05 ms).
 */
import { sign, type KeyObject } from "node:crypto";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { buildTbs, type TbsParams } from "../../src/pki/certificate.js";
import { bitString, children, readTlv, seq } from "../../src/pki/der.js";
import { signatureSchemeFor } from "../../src/pki/keys.js";
import { cnName } from "../../src/pki/name.js";
import { toPem } from "../../src/pki/pem.js";
import { leafExtensions } from "../../src/pki/profile.js";
import { fingerprint } from "../../src/pki/fingerprint.js";
import { formatInventoryLine } from "../../src/store/file/formats.js";
import { encodeRecord } from "../../src/store/file/journal.js";
import { fixtureName } from "./fixture-names.js";

export interface FixtureWorkerData {
  key: KeyObject;
  signed: string;
  issuerDer: Buffer;
  caSpki: Buffer;
  caIssuerDer: Buffer;
  caSerial: bigint;
  spki: Buffer;
  notBefore: number;
  notAfter: number;
}

/** A block of certificates [from, to): serial 2 + i for certificate i. */
export interface FixtureBlock {
  block: number;
  from: number;
  to: number;
}

export interface FixtureBlockDone {
  block: number;
  inventory: string;
  index: string;
}

const d = workerData as FixtureWorkerData;
const scheme = signatureSchemeFor(d.key);
const notBefore = new Date(d.notBefore);
const notAfter = new Date(d.notAfter);

function tbsFor(i: number): Buffer {
  const name = fixtureName(i);
  const p: TbsParams = {
    serial: BigInt(i + 2), issuer: d.issuerDer, subject: cnName(name), notBefore, notAfter, spki: d.spki,
    extensions: leafExtensions({ commonName: name, spki: d.spki, altNames: [], copied: [], caSpki: d.caSpki, caIssuerDer: d.caIssuerDer, caSerial: d.caSerial }),
  };
  return buildTbs(p, scheme);
}

/** DER length of a positive INTEGER's content. */
function serialBytes(v: number): number {
  let n = 1;
  while (v >= 2 ** (8 * n - 1)) n++;
  return n;
}

interface Template {
  tbs: Buffer;
  nameAt: number[];
  serialAt: number;
  serialLen: number;
}

const templates = new Map<number, Template>();

function templateFor(i: number): Template {
  const len = serialBytes(i + 2);
  let t = templates.get(len);
  if (!t) {
    const tbs = tbsFor(i);
    const name = Buffer.from(fixtureName(i), "latin1");
    const nameAt: number[] = [];
    for (let at = tbs.indexOf(name); at >= 0; at = tbs.indexOf(name, at + 1)) nameAt.push(at);
    const serial = children(tbs, readTlv(tbs, 0))[1]!;
    if (serial.end - serial.contentStart !== len || nameAt.length < 2) throw new Error(`fixture template: unexpected TBS layout for ${fixtureName(i)}`);
    templates.set(len, (t = { tbs, nameAt, serialAt: serial.contentStart, serialLen: len }));
  }
  return t;
}

function patchedTbs(i: number): Buffer {
  const t = templateFor(i);
  const tbs = Buffer.from(t.tbs);
  const name = fixtureName(i);
  for (const at of t.nameAt) tbs.write(name, at, "latin1");
  let v = i + 2;
  for (let k = t.serialLen - 1; k >= 0; k--) {
    tbs[t.serialAt + k] = v & 0xff;
    v = Math.floor(v / 256);
  }
  return tbs;
}

function run(b: FixtureBlock): FixtureBlockDone {
  let inventory = "";
  let index = "";
  for (let i = b.from; i < b.to; i++) {
    const tbs = patchedTbs(i);
    if (i === b.from && !tbs.equals(tbsFor(i))) throw new Error(`fixture: the copied TBS of ${fixtureName(i)} differs from buildTbs's`);
    const der = seq(tbs, scheme.algorithmDer, bitString(sign(scheme.hash, tbs, d.key)));
    const name = fixtureName(i);
    const path = join(d.signed, `${name}.pem`);
    writeFileSync(path, toPem(der, "CERTIFICATE"));
    const st = statSync(path);
    const serial = BigInt(i + 2);
    const sha256 = fingerprint(der);
    const entry = { name, state: "signed" as const, sha256, altNames: [`DNS:${name}`], authExtensions: {}, serial, notBefore, notAfter };
    index += `${encodeRecord({ op: "put", kind: "certificate", rec: { entry, size: st.size, mtimeMs: st.mtimeMs } })}\n`;
    inventory += formatInventoryLine({ serial, notBefore, notAfter, subject: `/CN=${name}` });
  }
  return { block: b.block, inventory, index };
}

parentPort!.on("message", (b: FixtureBlock) => {
  try {
    parentPort!.postMessage(run(b));
  } catch (err) {
    parentPort!.postMessage({ block: b.block, error: (err as Error).stack ?? String(err) });
  }
});
