/**
 * OCSP for the benchmark, with code that is not fleetca's: requests made by `openssl ocsp
 * -reqout`, openssl's reference responder (`openssl ocsp -index ... -port`) over an
 * `index.txt` written from the CA directory, and answers checked by `openssl ocsp -respin`.
 *
 * Uncached questions need a fresh nonce each: one openssl request per certificate is the
 * template, and its 16 nonce bytes are overwritten per request (an OCSP request is not
 * signed, and the nonce's length does not change, so no other byte moves).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";

/** One certificate the benchmark asks about, with what its status must be. */
export interface OcspSubject {
  name: string;
  serialHex: string;
  certFile: string;
  revoked: boolean;
}

/** An openssl-made request: DER bytes, and where its nonce is (undefined without one). */
export interface OcspRequestTemplate {
  subject: OcspSubject;
  der: Buffer;
  nonceAt?: number;
}

/** openssl's text for CRL reasons, to the names `index.txt` uses. */
const INDEX_REASONS: Record<string, string> = {
  unspecified: "unspecified",
  "key compromise": "keyCompromise",
  "ca compromise": "CACompromise",
  "affiliation changed": "affiliationChanged",
  superseded: "superseded",
  "cessation of operation": "cessationOfOperation",
  "certificate hold": "certificateHold",
  "remove from crl": "removeFromCRL",
};

/** Serial as `openssl`'s index spells it (BN_bn2hex: upper case, whole bytes). */
export function indexSerial(hex: string): string {
  const h = hex.replace(/^0+(?=.)/, "").toUpperCase();
  return h.length % 2 ? `0${h}` : h;
}

/** YYMMDDHHMMSSZ, as `index.txt` wants dates. */
export function indexDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

export interface CrlEntry {
  serial: string;
  revokedAt: Date;
  reason?: string;
}

/** The CRL's entries, read by `openssl crl -text` (index serial spelling). */
export function crlEntries(crlFile: string): CrlEntry[] {
  const r = spawnSync("openssl", ["crl", "-in", crlFile, "-noout", "-text"], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`openssl crl -text failed: ${r.stderr}`);
  const out: CrlEntry[] = [];
  const lines = r.stdout.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const serial = /^\s+Serial Number: ([0-9A-Fa-f]+)/.exec(lines[i]!)?.[1];
    if (!serial) continue;
    const date = /Revocation Date: (.+)$/.exec(lines[i + 1] ?? "")?.[1];
    const entry: CrlEntry = { serial: indexSerial(serial), revokedAt: new Date(date ?? Number.NaN) };
    for (let j = i + 2; j < lines.length && !/Serial Number:/.test(lines[j]!); j++) {
      if (/CRL Reason Code/.test(lines[j]!)) entry.reason = INDEX_REASONS[(lines[j + 1] ?? "").trim().toLowerCase()];
    }
    out.push(entry);
  }
  return out;
}

/**
 * Writes `<dir>/index.txt` for every certificate in `<cadir>/signed/`, revoked as the CA's
 * CRL says: `V|R <tab> expiry <tab> revocation[,reason] <tab> serial <tab> unknown <tab> /CN=name`.
 */
export function writeIndex(cadir: string, file: string): { certificates: number; revoked: number } {
  const revoked = new Map(crlEntries(join(cadir, "ca_crl.pem")).map((e) => [e.serial, e]));
  const lines: string[] = [];
  let nRevoked = 0;
  for (const f of readdirSync(join(cadir, "signed")).filter((x) => x.endsWith(".pem")).sort()) {
    const cert = new X509Certificate(readFileSync(join(cadir, "signed", f)));
    const serial = indexSerial(cert.serialNumber);
    const expiry = indexDate(new Date(cert.validTo));
    const subject = `/${cert.subject.split("\n").join("/")}`;
    const r = revoked.get(serial);
    if (r) nRevoked++;
    const when = r ? `${indexDate(r.revokedAt)}${r.reason ? `,${r.reason}` : ""}` : "";
    lines.push([r ? "R" : "V", expiry, when, serial, "unknown", subject].join("\t"));
  }
  writeFileSync(file, `${lines.join("\n")}\n`);
  writeFileSync(`${file}.attr`, "unique_subject = no\n");
  return { certificates: lines.length, revoked: nRevoked };
}

/** `openssl ocsp -issuer CA -cert CERT [-no_nonce] -reqout FILE`, read back as a template. */
export async function opensslRequest(caFile: string, subject: OcspSubject, nonce: boolean, outFile: string): Promise<OcspRequestTemplate> {
  const args = ["ocsp", "-issuer", caFile, "-cert", subject.certFile, nonce ? "-nonce" : "-no_nonce", "-reqout", outFile];
  const code = await new Promise<number>((resolve, reject) => {
    const c = spawn("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve(0) : reject(new Error(`openssl ${args.join(" ")}: ${code}: ${err}`))));
  });
  void code;
  const der = readFileSync(outFile);
  return { subject, der, nonceAt: nonce ? nonceOffset(der) : undefined };
}

/** id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2, as DER. */
const NONCE_OID = Buffer.from("06092b0601050507300102", "hex");

/**
 * Where the 16 nonce bytes are: openssl writes the nonce extension as the OID, then
 * OCTET STRING { OCTET STRING (16 bytes) } (`04 12 04 10 ...`).
 */
export function nonceOffset(der: Buffer): number {
  const at = der.indexOf(NONCE_OID);
  if (at < 0) throw new Error("no nonce extension in the request");
  const v = at + NONCE_OID.length;
  if (der[v] !== 0x04 || der[v + 1] !== 0x12 || der[v + 2] !== 0x04 || der[v + 3] !== 0x10) throw new Error("unexpected nonce encoding in the request");
  return v + 4;
}

/** A copy of the template with a nonce no other request in this run has: 8 random bytes, then a counter. */
export function withNonce(t: OcspRequestTemplate, prefix: Buffer, counter: number): Buffer {
  const b = Buffer.from(t.der);
  prefix.copy(b, t.nonceAt!, 0, 8);
  b.writeUInt32BE(Math.floor(counter / 2 ** 32), t.nonceAt! + 8);
  b.writeUInt32BE(counter >>> 0, t.nonceAt! + 12);
  return b;
}

/** OCSPResponse { responseStatus ENUMERATED successful(0), ... }: checked on every answer (cheap). */
export function isSuccessful(der: Buffer): boolean {
  if (der.length < 5 || der[0] !== 0x30) return false;
  const lenByte = der[1]!;
  const at = lenByte < 0x80 ? 2 : 2 + (lenByte & 0x7f);
  return der[at] === 0x0a && der[at + 1] === 0x01 && der[at + 2] === 0x00;
}

export interface ResponseCheck {
  ok: boolean;
  status?: "good" | "revoked" | "unknown";
  serial?: string;
  nonceOk: boolean;
  verifyOk: boolean;
  nextUpdate: boolean;
  /** The checker's output when something failed. */
  output?: string;
}

/**
 * `openssl ocsp -reqin REQ -respin RESP -issuer CA -VAfile CA -CAfile CA -resp_text`: the
 * signature (by the CA, or a responder it delegated to), the nonce against the request's
 * (openssl says "Nonce Verify error", or warns when the answer has none), the status.
 */
export function opensslCheck(dir: string, caFile: string, req: Buffer, resp: Buffer, expected: { serial: string; revoked: boolean; nonce: boolean }, i: number): ResponseCheck {
  const reqFile = join(dir, `check-${i}.req.der`);
  const respFile = join(dir, `check-${i}.resp.der`);
  writeFileSync(reqFile, req);
  writeFileSync(respFile, resp);
  const r = spawnSync("openssl", ["ocsp", "-reqin", reqFile, "-respin", respFile, "-issuer", caFile, "-VAfile", caFile, "-CAfile", caFile, "-resp_text"], { encoding: "utf8" });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  const status = /Cert Status: (good|revoked|unknown)/.exec(out)?.[1] as ResponseCheck["status"];
  const serial = /Serial Number: ([0-9A-Fa-f]+)/.exec(out)?.[1];
  const verifyOk = r.status === 0 && /Response verify OK/.test(out);
  const nonceOk = expected.nonce ? !/Nonce Verify error|no nonce in response/i.test(out) && /OCSP Nonce/.test(out) : !/Nonce Verify error/.test(out);
  const nextUpdate = /Next Update:/.test(out);
  const ok = verifyOk && nonceOk && status === (expected.revoked ? "revoked" : "good") && serial !== undefined && indexSerial(serial) === expected.serial;
  return { ok, status, serial, nonceOk, verifyOk, nextUpdate, output: ok ? undefined : out.slice(0, 1500) };
}

export interface ReferenceResponder {
  pid: number;
  port: number;
  args: string[];
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * `openssl ocsp -index index.txt -port PORT -rsigner ca_crt.pem -rkey ca_key.pem -CA ca_crt.pem
 * -nmin 60 -ignore_err` (plus `-multi N` when asked), ready when a request gets an answer.
 */
export async function startReference(o: { dir: string; index: string; caFile: string; keyFile: string; port: number; probe: Buffer; multi?: number }): Promise<ReferenceResponder> {
  const args = ["ocsp", "-index", o.index, "-port", String(o.port), "-rsigner", o.caFile, "-rkey", o.keyFile, "-CA", o.caFile, "-nmin", "60", "-ignore_err"];
  if (o.multi) args.push("-multi", String(o.multi));
  mkdirSync(o.dir, { recursive: true });
  const logFile = join(o.dir, `openssl-ocsp-${o.port}.log`);
  const log = openSync(logFile, "w");
  // Not detached: with -multi, openssl makes its own process group (setpgid, which fails in a
  // new session) and forks into it; stopping signals that group, so no child is left behind.
  const child = spawn("openssl", args, { stdio: ["ignore", log, log] });
  closeSync(log);
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (o.multi) process.kill(-child.pid!, signal);
    } catch {
      // no such group (already gone)
    }
    child.kill(signal);
  };
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `exited with ${code ?? signal}`));
  const deadline = performance.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`openssl ocsp responder ${exited}; see ${logFile}`);
    if (performance.now() > deadline) {
      kill("SIGKILL");
      throw new Error(`openssl ocsp responder did not answer within 15 s; see ${logFile}`);
    }
    if (await answers(o.port, o.probe)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        kill("SIGKILL"); // whatever -multi left behind
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once("exit", done);
      kill("SIGTERM");
      setTimeout(() => kill("SIGKILL"), 3000).unref();
    });
  return { pid: child.pid!, port: o.port, args: ["openssl", ...args], child, stop };
}

/** One POST over plain HTTP; true when an HTTP answer came back. */
function answers(port: number, body: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    let got = "";
    s.setTimeout(1000, () => s.destroy());
    s.on("connect", () => s.write(Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\nContent-Length: ${body.length}\r\n\r\n`), body])));
    s.on("data", (d: Buffer) => (got += d.toString("latin1")));
    s.on("error", () => resolve(false));
    s.on("close", () => resolve(/^HTTP\/1\.[01] 200/.test(got)));
  });
}

/** One DER TLV header at `at`: tag, where the content starts and where the element ends. */
function tlv(der: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  if (start + len > der.length) throw new Error("truncated DER");
  return { tag, start, end: start + len };
}

/**
 * The first SingleResponse's certStatus, read by walking the DER (RFC 6960 4.2.1):
 * OCSPResponse > responseBytes > BasicOCSPResponse > tbsResponseData > responses[0].
 * Cheap enough for every answer of the run; openssl checks a sample in full afterwards.
 */
export function certStatusOf(der: Buffer): "good" | "revoked" | "unknown" | undefined {
  try {
    const top = tlv(der, 0);
    const status = tlv(der, top.start);
    const explicit = tlv(der, status.end);
    if (explicit.tag !== 0xa0) return undefined;
    const responseBytes = tlv(der, explicit.start);
    const oid = tlv(der, responseBytes.start);
    const octets = tlv(der, oid.end);
    const basic = tlv(der, octets.start);
    const tbs = tlv(der, basic.start);
    let x = tlv(der, tbs.start);
    if (x.tag === 0xa0) x = tlv(der, x.end); // version
    const producedAt = tlv(der, x.end); // x was the responderID
    const responses = tlv(der, producedAt.end);
    const single = tlv(der, responses.start);
    const certId = tlv(der, single.start);
    const certStatus = der[certId.end];
    return certStatus === 0x80 ? "good" : certStatus === 0xa1 ? "revoked" : certStatus === 0x82 ? "unknown" : undefined;
  } catch {
    return undefined;
  }
}
