/**
 * Large CA fixtures for the cost curve: N certificates written straight into a CA directory
 * the way fleetca itself leaves them (signed/NAME.pem, inventory.txt, serial, and the index
 * fleetca_index.jsonl with one record per certificate), without fsync and without the
 * server, so 1,000,000 of them take minutes rather than hours.
 *
 * How: the CA is P-256 (a signature is ~0.03 ms); every certificate is a real one, issued by
 * fleetca's own issueCertificate with its own serial and name, but all for one agent key
 * (a key per certificate would only cost key generation); the index records are encoded by
 * the store's own encoder with each file's size and mtime, and the directory and inventory
 * markers are appended last, so fleetca reads the index instead of parsing a million PEM files.
 * `grow` adds to what is there, so 10,000 -> 100,000 -> 1,000,000 reuses the earlier part.
 */
import { appendFileSync, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { certificateEntry } from "../../src/ca/summarize.js";
import { certToPem, issueCertificate, parseCertificateDer } from "../../src/pki/certificate.js";
import { cnName } from "../../src/pki/name.js";
import { leafExtensions } from "../../src/pki/profile.js";
import { formatInventoryLine, formatSerialHex } from "../../src/store/file/formats.js";
import { encodeRecord, type JournalRecord } from "../../src/store/file/journal.js";
import { syncFilesystem } from "../../src/store/file/commit-journal.js";
import type { AgentIdentity } from "./agents.js";
import { inProcessCa } from "./fleetca.js";

const DAY_MS = 86_400_000;

export function fixtureName(i: number): string {
  return `node-${String(i).padStart(7, "0")}.curve.test`;
}

/** Grows the CA at `cadir` from `from` to `to` certificates (serials 2 + i). */
export async function growFixture(cadir: string, from: number, to: number, agent: AgentIdentity, progress?: (done: number) => void): Promise<void> {
  const ca = inProcessCa(cadir);
  const material = await ca.current();
  const spki = Buffer.from(agent.spki, "base64");
  const now = Date.now();
  const notBefore = new Date(now - DAY_MS);
  const notAfter = new Date(now + 5 * 365 * DAY_MS);
  const signed = join(cadir, "signed");
  mkdirSync(signed, { recursive: true });
  const indexPath = join(cadir, "fleetca_index.jsonl");
  if (!existsSync(indexPath)) writeFileSync(indexPath, `${JSON.stringify({ op: "hdr", gen: randomBytes(8).toString("hex") })}\n`);
  let inventory = "";
  let index = "";
  const flush = () => {
    appendFileSync(join(cadir, "inventory.txt"), inventory);
    appendFileSync(indexPath, index);
    inventory = "";
    index = "";
  };
  for (let i = from; i < to; i++) {
    const name = fixtureName(i);
    const serial = BigInt(i + 2);
    const der = await issueCertificate(
      {
        serial, issuer: material.cert.subjectDer, subject: cnName(name), notBefore, notAfter, spki,
        extensions: leafExtensions({ commonName: name, spki, altNames: [], copied: [], caSpki: material.cert.spki, caIssuerDer: material.cert.issuerDer, caSerial: material.cert.serial }),
      },
      material.key!,
    );
    const path = join(signed, `${name}.pem`);
    writeFileSync(path, certToPem(der));
    const st = statSync(path);
    const rec: JournalRecord = { op: "put", kind: "certificate", rec: { entry: certificateEntry(name, parseCertificateDer(der)), size: st.size, mtimeMs: st.mtimeMs } };
    index += `${encodeRecord(rec)}\n`;
    inventory += formatInventoryLine({ serial, notBefore, notAfter, subject: `/CN=${name}` });
    if (index.length > 1 << 22) flush();
    if (progress && (i + 1) % 50_000 === 0) progress(i + 1);
  }
  flush();
  writeFileSync(join(cadir, "serial"), formatSerialHex(BigInt(to + 2)));
  // The markers fleetca writes after it has seen the directories: nothing changed behind the index.
  const markers: JournalRecord[] = [
    { op: "dir", kind: "certificate", mtimeNs: statSync(signed, { bigint: true }).mtimeNs.toString(), settled: true },
    { op: "dir", kind: "request", mtimeNs: statSync(join(cadir, "requests"), { bigint: true }).mtimeNs.toString(), settled: true },
    { op: "inv", size: statSync(join(cadir, "inventory.txt")).size },
  ];
  appendFileSync(indexPath, markers.map((r) => `${encodeRecord(r)}\n`).join(""));
  // Written without fsync, the fixture's gigabytes would otherwise reach the disk during the
  // measurements: the first fsync after them (a revoke's) waits for all of it on ext4.
  await syncFilesystem(cadir);
}
