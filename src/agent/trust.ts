/**
 * What the agent trusts: the CA bundle and CRL, parsed and checked once when they are read or fetched, so the
 * later steps work on values rather than files. A CRL is only accepted if the CA signed it.
 */
import { parseCertificateChain, parseCertificateDer, verifySignedBy, type ParsedCertificate } from "../pki/certificate.js";
import { crlStateFromDer, type CrlState } from "../pki/crl.js";
import { crlSignedBy } from "../pki/crl-verify.js";
import { fingerprint } from "../pki/fingerprint.js";
import { rfcName } from "../pki/name.js";
import { fromPem } from "../pki/pem.js";
import { AgentError } from "./errors.js";

export interface CaBundle {
  readonly caPem: string;
  /** The issuing CA first, then its issuers (Puppet's ca.pem may hold a chain). */
  readonly chain: readonly ParsedCertificate[];
}

export interface TrustMaterial extends CaBundle {
  readonly crlPem: string;
  readonly crl: CrlState;
}

export const caSubject = (b: CaBundle): string => rfcName(b.chain[0]!.subject);
export const caFingerprint = (b: CaBundle): string => fingerprint(b.chain[0]!.der);

/** Parses a CA bundle; `where` names its origin for the message ("certs/ca.pem", "the CA at https://…"). */
export function parseCaBundle(pem: string, where: string): CaBundle {
  let chain: ParsedCertificate[];
  try {
    chain = parseCertificateChain(pem);
  } catch (e) {
    throw new AgentError("invalid-file", `The CA certificate from ${where} cannot be read: ${(e as Error).message}.`);
  }
  if (chain.length === 0) throw new AgentError("invalid-file", `${where} holds no PEM certificate where the CA certificate should be.`);
  for (let i = 0; i + 1 < chain.length; i++) {
    const c = chain[i]!;
    if (!verifySignedBy(c.tbs, c.signatureOid, c.signature, chain[i + 1]!.spki)) {
      throw new AgentError("invalid-file", `The CA bundle from ${where} is not a chain: certificate ${i + 1} (${rfcName(c.subject)}) is not signed by the next one.`);
    }
  }
  return { caPem: pem, chain };
}

/** Parses a CRL and checks that the bundle's issuing CA signed it. */
export function parseCrlFor(bundle: CaBundle, crlPem: string, where: string): TrustMaterial {
  const ca = bundle.chain[0]!;
  let crl: CrlState;
  let der: Buffer;
  try {
    der = fromPem(crlPem, ["X509 CRL"], "CRL");
    crl = crlStateFromDer(der);
  } catch (e) {
    throw new AgentError("invalid-file", `The CRL from ${where} cannot be read: ${(e as Error).message}.`);
  }
  if (!crl.issuer.equals(ca.subjectDer) || !crlSignedBy(der, ca.spki)) {
    throw new AgentError("invalid-file", `The CRL from ${where} was not issued by the CA ${rfcName(ca.subject)}; it cannot be trusted.`);
  }
  return { ...bundle, crlPem, crl };
}

/** True when `cert` names an issuer in the bundle and carries that issuer's valid signature. */
export function issuedBy(cert: ParsedCertificate, bundle: CaBundle): ParsedCertificate | undefined {
  return bundle.chain.find((ca) => ca.subjectDer.equals(cert.issuerDer) && verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, ca.spki));
}

/** The server's TLS certificate (DER from the wire) checked against a bundle; undefined when it cannot be parsed. */
export function peerIssuedBy(peerDer: Buffer, bundle: CaBundle): { ok: boolean; peer?: ParsedCertificate } {
  try {
    const peer = parseCertificateDer(peerDer);
    return { ok: issuedBy(peer, bundle) !== undefined, peer };
  } catch {
    return { ok: false };
  }
}

/**
 * A SHA-256 fingerprint as people paste it: "AB:CD:…", "abcd…", "SHA256:AB:…", "(SHA256) AB:…".
 * Returns the canonical upper-case colon form, or undefined when it is not 32 bytes of hex.
 */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.trim().replace(/^\(?sha-?256\)?:?\s*/i, "").replace(/[:\s-]/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(":");
}
