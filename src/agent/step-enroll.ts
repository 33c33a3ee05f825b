/**
 * Steps 2 to 5, literally: own key (or a new pair), own certificate (done if present), own CSR on disk, or the
 * CSR the CA already holds ("forgotten": downloaded, never resubmitted), or a new one submitted; then the
 * certificate, if signed. One addition to the seed: a CSR made with another key is reported at step 4, instead of
 * waiting for a certificate that step 6 would have to refuse.
 */
import crypto from "node:crypto";
import { parseCertificatePem } from "../pki/certificate.js";
import { buildCsr, csrToPem, parseCsrPem, type ParsedCsr } from "../pki/csr.js";
import { fingerprint } from "../pki/fingerprint.js";
import { generateKeyPair, loadPrivateKey, privateKeyToPem, publicKeyToPem, spkiDer, type KeySpec } from "../pki/keys.js";
import { loadCsrAttributes } from "./csr-attributes.js";
import { AgentError, reenroll } from "./errors.js";
import { failureError } from "./failures.js";
import type { LoadedKey, State, StepContext } from "./states.js";
import type { TrustMaterial } from "./trust.js";

const describeSpec = (k: KeySpec): string => (k.type === "rsa" ? `RSA ${k.bits}` : `EC ${k.curve}`);

function describeKey(key: crypto.KeyObject): string {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "rsa") return `RSA ${d?.modulusLength ?? "?"}`;
  if (key.asymmetricKeyType === "ec") return `EC ${d?.namedCurve === "secp384r1" ? "P-384" : d?.namedCurve === "prime256v1" ? "P-256" : d?.namedCurve}`;
  return String(key.asymmetricKeyType).toUpperCase();
}

/** Step 2. */
export async function needKey(ctx: StepContext, trust: TrustMaterial): Promise<State> {
  const { ssldir, deps, opts } = ctx;
  const where = ssldir.path("privateKey");
  const saved = await ssldir.read("privateKey");
  if (saved !== undefined) {
    let privateKey: crypto.KeyObject;
    try {
      privateKey = loadPrivateKey(saved);
    } catch (e) {
      throw new AgentError("invalid-file", `The private key ${where} cannot be read: ${(e as Error).message}.`, { remedies: reenroll(opts.certname) });
    }
    deps.emit({ type: "key", action: "loaded", description: describeKey(privateKey), path: where });
    return { name: "NeedCert", trust, key: { privateKey, pem: saved, spki: spkiDer(crypto.createPublicKey(privateKey)) } };
  }
  const pair = await generateKeyPair(opts.keySpec);
  const pem = privateKeyToPem(pair.privateKey);
  await ssldir.write("privateKey", pem);
  await ssldir.write("publicKey", publicKeyToPem(pair.publicKey));
  deps.emit({ type: "key", action: "created", description: describeSpec(opts.keySpec), path: where });
  return { name: "NeedCert", trust, key: { privateKey: pair.privateKey, pem, spki: spkiDer(pair.publicKey) } };
}

/** Step 3. */
export async function needCert(ctx: StepContext, trust: TrustMaterial, key: LoadedKey): Promise<State> {
  const { ssldir, deps, opts } = ctx;
  const where = ssldir.path("cert");
  const certPem = await ssldir.read("cert");
  deps.emit({ type: "cert-on-disk", found: certPem !== undefined, path: where });
  if (certPem !== undefined) {
    let cert;
    try {
      cert = parseCertificatePem(certPem);
    } catch (e) {
      throw new AgentError("invalid-file", `The certificate ${where} cannot be read: ${(e as Error).message}.`, { remedies: reenroll(opts.certname) });
    }
    return { name: "Verify", trust, key, cert, certPem, renewed: false };
  }
  if (opts.mode === "renew") {
    throw new AgentError("missing", `There is no certificate to renew in ${where}.`, { remedies: [{ on: "agent", action: "bootstrap" }] });
  }
  return { name: "NeedCSR", trust, key };
}

function csrOf(pem: string, where: string, certname: string): ParsedCsr {
  try {
    return parseCsrPem(pem);
  } catch (e) {
    throw new AgentError("invalid-file", `The certificate request from ${where} cannot be read: ${(e as Error).message}.`, { remedies: reenroll(certname) });
  }
}

function requireSameKey(csr: ParsedCsr, key: LoadedKey, whose: string, certname: string): void {
  if (csr.spki.equals(key.spki)) return;
  throw new AgentError("key-mismatch", `${whose} was made with a different private key than this node's, so the certificate it would yield could not be used.`, {
    details: [`request fingerprint (SHA256): ${fingerprint(csr.der)}`],
    remedies: reenroll(certname),
  });
}

/** Step 4. */
export async function needCsr(ctx: StepContext, trust: TrustMaterial, key: LoadedKey): Promise<State> {
  const { ssldir, client, deps, opts } = ctx;
  const name = opts.certname;
  const since = deps.clock();
  const local = await ssldir.read("request");
  if (local !== undefined) {
    const csr = csrOf(local, ssldir.path("request"), name);
    requireSameKey(csr, key, `The certificate request ${ssldir.path("request")}`, name);
    deps.emit({ type: "csr", action: "on-disk", fingerprint: fingerprint(csr.der), url: client.caUrl });
    return { name: "NeedSignedCert", trust, key, csr, since };
  }
  const held = await client.getCertificateRequest(trust, name);
  if (held.ok) {
    const csr = csrOf(held.value, client.caUrl, name);
    requireSameKey(csr, key, `The certificate request the CA already holds for ${name}`, name);
    await ssldir.write("request", held.value);
    deps.emit({ type: "csr", action: "forgotten", fingerprint: fingerprint(csr.der), url: client.caUrl });
    return { name: "NeedSignedCert", trust, key, csr, since };
  }
  if (held.failure.kind !== "not-found") throw failureError(held.failure, `ask ${client.caUrl} for a pending request`, trust);

  const { attrs, loaded } = await loadCsrAttributes(opts.csrAttributesFile);
  const altNames = opts.dnsAltNames.length > 0 ? [`DNS:${name}`, ...opts.dnsAltNames.map((n) => (n.includes(":") ? n : `DNS:${n}`))] : [];
  const publicKey = crypto.createPublicKey(key.privateKey);
  const der = await buildCsr({ commonName: name, altNames, extensionRequests: attrs.extensionRequests, attributes: attrs.attributes }, key.privateKey, publicKey);
  const pem = csrToPem(der);
  const csr = parseCsrPem(pem);
  await ssldir.write("request", pem);
  const sent = await client.submitCertificateRequest(trust, name, pem);
  const attributesFile = loaded ? opts.csrAttributesFile : undefined;
  if (sent.ok) {
    deps.emit({ type: "csr", action: "submitted", fingerprint: fingerprint(der), url: client.caUrl, attributesFile });
    return { name: "NeedSignedCert", trust, key, csr, since };
  }
  const f = sent.failure;
  // The CA already has something under this name (Puppet's "already has a … certificate"): like Puppet, go on to
  // step 5; the certificate it yields is then checked against our key at step 6.
  if (f.kind === "http" && f.status === 400 && /already has a/.test(f.message)) {
    deps.emit({ type: "csr", action: "duplicate", fingerprint: fingerprint(der), url: client.caUrl, note: f.message, attributesFile });
    return { name: "NeedSignedCert", trust, key, csr, since };
  }
  // Not accepted (or unknown): forget the local copy, so the next run asks the CA what it holds instead of
  // waiting on a request that may never have arrived.
  await ssldir.remove("request");
  // 429 (too many submissions from this address) is the server's flood protection, not a verdict on the
  // request: like a 503, "try again later", worded by failureError with the server's message (when to retry).
  if (f.kind === "http" && f.status >= 400 && f.status < 500 && f.status !== 429) {
    const altNamesRefused = /subject alternative names/i.test(f.message);
    throw new AgentError("rejected", `The CA at ${client.caUrl} refused the certificate request for ${name}: ${f.message}`, {
      remedies: altNamesRefused ? [{ on: "ca", action: "sign-with-alt-names", certname: name }] : [{ note: "Fix what the CA reports (certname, dns_alt_names, csr_attributes), then run the command again." }],
    });
  }
  throw failureError(f, `submit the certificate request to ${client.caUrl}`, trust);
}

/** Step 5. Only asks; waiting is the driver's decision (NotSigned). */
export async function needSignedCert(ctx: StepContext, s: Extract<State, { name: "NeedSignedCert" }>): Promise<State> {
  const { ssldir, client, deps, opts } = ctx;
  const r = await client.getCertificate(s.trust, opts.certname);
  if (!r.ok) {
    if (r.failure.kind === "not-found") return { name: "NotSigned", retry: s };
    if (r.failure.kind === "network" || (r.failure.kind === "http" && r.failure.status >= 500)) {
      return { name: "NotSigned", retry: s, reason: failureError(r.failure, `fetch the certificate from ${client.caUrl}`).message };
    }
    throw failureError(r.failure, `fetch the certificate from ${client.caUrl}`, s.trust);
  }
  let cert;
  try {
    cert = parseCertificatePem(r.value);
  } catch (e) {
    throw new AgentError("unavailable", `The CA at ${client.caUrl} sent something that is not a certificate for ${opts.certname}: ${(e as Error).message}.`);
  }
  // Stored as the seed says, then judged at step 6 (a mismatched certificate is reported there).
  await ssldir.write("cert", r.value);
  await ssldir.remove("request");
  deps.emit({ type: "cert-downloaded", serial: cert.serial.toString(16).toUpperCase(), notAfter: cert.notAfter, fingerprint: fingerprint(cert.der), url: client.caUrl });
  return { name: "Verify", trust: s.trust, key: s.key, cert, certPem: r.value, renewed: false };
}
