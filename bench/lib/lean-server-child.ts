/**
 * The lean enrollment server (lean-server.ts): the least a durable Puppet CA must do per
 * enrollment, in Node, with fleetca's own pki functions and nothing else:
 *   node --import tsx bench/lib/lean-server-child.ts CADIR OUTDIR
 * PUT certificate_request/NAME: the CSR parsed, its signature verified, its CN checked, the
 * certificate built with Puppet's profile and signed. Certificates wait for a group commit:
 * one journal line per batch (append + fdatasync on the thread pool, the next batch gathering
 * meanwhile), then signed/NAME.pem (open, write, close: the journal covers a torn file) and
 * one inventory.txt append, then the answers. GET certificate/NAME answers from memory, the CA
 * certificate and the CRL are canned. No routing rules, no logging, no index, no audit, no
 * metrics, no lock, no checks beyond the CSR's: what it costs, no CA server can go below.
 */
import { closeSync, fdatasync, openSync, readFileSync, writeSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { createServer } from "node:https";
import { join } from "node:path";
import { isValidCertname } from "../../src/ca/names.js";
import { parseCertificatePem, certToPem, buildTbs } from "../../src/pki/certificate.js";
import { parseCsrPem, verifyCsrSignature, type ParsedCsr } from "../../src/pki/csr.js";
import { bitString, seq } from "../../src/pki/der.js";
import { loadPrivateKey, signatureSchemeFor, signSync } from "../../src/pki/keys.js";
import { cnName } from "../../src/pki/name.js";
import { leafExtensions } from "../../src/pki/profile.js";

const [cadir, outdir] = process.argv.slice(2) as [string, string];
const ssl = join(cadir, "..", "ssl");
const caKey = loadPrivateKey(readFileSync(join(cadir, "ca_key.pem"), "utf8"), "CA key");
const scheme = signatureSchemeFor(caKey);
const caPem = readFileSync(join(cadir, "ca_crt.pem"));
const crlPem = readFileSync(join(cadir, "ca_crl.pem"));
const ca = parseCertificatePem(caPem.toString("utf8"));
const journal = openSync(join(outdir, "journal.log"), "a");
const inventory = openSync(join(outdir, "inventory.txt"), "a");
const signed = join(outdir, "signed");
const issued = new Map<string, Buffer>();
let serial = BigInt(Date.now());
/** LEAN_MEMORY_ONLY=1: no journal and no files, the certificate kept in memory only (the cost of durability, by difference). */
const MEMORY_ONLY = process.env.LEAN_MEMORY_ONLY === "1";
const VALIDITY_MS = 5 * 365 * 86_400_000;

interface Waiting {
  name: string;
  pem: string;
  inv: string;
  res: ServerResponse;
}
let gathering: Waiting[] = [];
let syncing = false;

function commit(): void {
  if (syncing || gathering.length === 0) return;
  const batch = gathering;
  gathering = [];
  syncing = true;
  writeSync(journal, `${JSON.stringify(batch.map((w) => ({ name: w.name, pem: w.pem, inv: w.inv })))}\n`);
  fdatasync(journal, (err) => {
    if (err) throw err;
    let inv = "";
    for (const w of batch) {
      const fd = openSync(join(signed, `${w.name}.pem`), "w", 0o644);
      writeSync(fd, w.pem);
      closeSync(fd);
      inv += w.inv;
      issued.set(w.name, Buffer.from(w.pem));
    }
    writeSync(inventory, inv);
    for (const w of batch) send(w.res, 200, EMPTY);
    syncing = false;
    commit();
  });
}

const EMPTY = Buffer.alloc(0);
function send(res: ServerResponse, status: number, body: Buffer | string): void {
  res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function enroll(name: string, body: string, res: ServerResponse): void {
  // The name becomes a file name: checked as fleetca checks it, before anything else.
  if (!isValidCertname(name)) return send(res, 400, "bad certname");
  let csr: ParsedCsr;
  try {
    csr = parseCsrPem(body);
  } catch {
    return send(res, 400, "bad request");
  }
  if (!verifyCsrSignature(csr) || csr.commonName !== name) return send(res, 400, "bad request");
  const now = new Date();
  const notBefore = new Date(now.getTime() - 86_400_000);
  const notAfter = new Date(now.getTime() + VALIDITY_MS);
  const s = serial++;
  const extensions = leafExtensions({ commonName: name, spki: csr.spki, altNames: csr.altNames, copied: [], caSpki: ca.spki, caIssuerDer: ca.issuerDer, caSerial: ca.serial });
  const tbs = buildTbs({ serial: s, issuer: ca.subjectDer, subject: cnName(name), notBefore, notAfter, spki: csr.spki, extensions }, scheme);
  const pem = certToPem(seq(tbs, scheme.algorithmDer, bitString(signSync(tbs, caKey, scheme))));
  const inv = `0x${s.toString(16).padStart(4, "0")} ${notBefore.toISOString().slice(0, 19)}UTC ${notAfter.toISOString().slice(0, 19)}UTC /CN=${name}\n`;
  if (MEMORY_ONLY) {
    issued.set(name, Buffer.from(pem));
    return send(res, 200, EMPTY);
  }
  gathering.push({ name, pem, inv, res });
  commit();
}

const P = "/puppet-ca/v1/";
const server = createServer(
  { key: readFileSync(join(ssl, "private_keys", "ca.bench.test.pem")), cert: readFileSync(join(ssl, "certs", "ca.bench.test.pem")), keepAliveTimeout: 60_000, requestCert: true, rejectUnauthorized: false },
  (req, res) => {
    const url = req.url ?? "";
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (url === `${P}certificate/ca`) return send(res, 200, caPem);
      if (url === `${P}certificate_revocation_list/ca`) return send(res, 200, crlPem);
      const name = url.slice(url.indexOf("/", P.length) + 1).split("?")[0]!;
      if (req.method === "PUT" && url.startsWith(`${P}certificate_request/`)) return enroll(name, Buffer.concat(chunks).toString("utf8"), res);
      if (url.startsWith(`${P}certificate/`)) {
        const pem = issued.get(name);
        return pem ? send(res, 200, pem) : send(res, 404, "not found");
      }
      send(res, 404, "not found");
    });
  },
);
server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
// An orderly exit on SIGTERM, so that --cpu-prof writes its profile.
process.on("SIGTERM", () => process.exit(0));
