/**
 * The verbs that only look at the ssldir: verify (offline, as `puppet ssl verify` is), show, and clean. They
 * share the bootstrap's parsing and checks, so an ssldir that passes here is one step 6 accepts.
 */
import crypto from "node:crypto";
import { parseCertificatePem, type ParsedCertificate } from "../pki/certificate.js";
import { loadPrivateKey, spkiDer } from "../pki/keys.js";
import { checkCredentials } from "./checks.js";
import { AgentError, reenroll } from "./errors.js";
import { FILE_LABELS, type SslFile, type Ssldir } from "./ssldir.js";
import { parseCaBundle, parseCrlFor, type TrustMaterial } from "./trust.js";

const missing = (ssldir: Ssldir, what: string): AgentError =>
  new AgentError("missing", `The ${what} is missing from '${ssldir.root}'.`, { remedies: [{ on: "agent", action: "bootstrap" }] });

/** This node's certificate as saved, parsed; a "missing" error when there is none. */
export async function readClientCert(ssldir: Ssldir): Promise<{ cert: ParsedCertificate; pem: string }> {
  const pem = await ssldir.read("cert");
  if (pem === undefined) throw missing(ssldir, "client certificate");
  try {
    return { cert: parseCertificatePem(pem), pem };
  } catch (e) {
    throw new AgentError("invalid-file", `The certificate ${ssldir.path("cert")} cannot be read: ${(e as Error).message}.`, { remedies: reenroll(ssldir.certname) });
  }
}

export interface LocalCredentials {
  trust: TrustMaterial;
  cert: ParsedCertificate;
}

/** Checks the saved credentials as step 6 does, without the network. */
export async function verifyLocal(ssldir: Ssldir, now: Date): Promise<LocalCredentials> {
  // The certificate first: "missing client certificate" is what `puppet ssl verify` says on an unenrolled node.
  const { cert } = await readClientCert(ssldir);
  const caPem = await ssldir.read("ca");
  if (caPem === undefined) throw missing(ssldir, "CA certificate");
  const crlPem = await ssldir.read("crl");
  if (crlPem === undefined) throw missing(ssldir, "CRL");
  const trust = parseCrlFor(parseCaBundle(caPem, ssldir.path("ca")), crlPem, ssldir.path("crl"));
  const keyPem = await ssldir.read("privateKey");
  if (keyPem === undefined) throw missing(ssldir, "private key");
  let keySpki: Buffer;
  try {
    keySpki = spkiDer(crypto.createPublicKey(loadPrivateKey(keyPem)));
  } catch (e) {
    throw new AgentError("invalid-file", `The private key ${ssldir.path("privateKey")} cannot be read: ${(e as Error).message}.`, { remedies: reenroll(ssldir.certname) });
  }
  const problem = checkCredentials({
    certname: ssldir.certname,
    cert,
    certPath: ssldir.path("cert"),
    keyPath: ssldir.path("privateKey"),
    keySpki,
    bundle: trust,
    crl: trust.crl,
    otherCrls: trust.otherCrls,
    now,
  });
  if (problem) throw problem;
  return { trust, cert };
}

/** Removes this node's credentials (and with `all` the CA certificate and CRL). Returns what was removed. */
export async function cleanSsldir(ssldir: Ssldir, all: boolean): Promise<{ file: SslFile; label: string; path: string }[]> {
  const files: SslFile[] = ["privateKey", "publicKey", "cert", "request", ...(all ? (["ca", "crl"] as const) : [])];
  const removed: { file: SslFile; label: string; path: string }[] = [];
  for (const file of files) {
    if (await ssldir.remove(file)) removed.push({ file, label: FILE_LABELS[file], path: ssldir.path(file) });
  }
  return removed;
}
