/**
 * What the agent trusts: the CA bundle and CRL, parsed and checked once when they are read or fetched, so the
 * later steps work on values rather than files. A CRL is only accepted if the CA signed it.
 */
import { parseCertificateChain, parseCertificateDer, verifySignedBy, type ParsedCertificate } from "../pki/certificate.js";
import { crlStateFromDer, type CrlState } from "../pki/crl.js";
import { crlSignedBy } from "../pki/crl-verify.js";
import { fingerprint } from "../pki/fingerprint.js";
import { rfcName } from "../pki/name.js";
import { fromPem, pemBlocks } from "../pki/pem.js";
import { AgentError } from "./errors.js";

export interface CaBundle {
  readonly caPem: string;
  /**
   * The issuing CA first, then its issuers (Puppet's ca.pem may hold a chain); during a CA
   * rotation's overlap, the CA being replaced (and its issuers) after them.
   */
  readonly chain: readonly ParsedCertificate[];
}

/** A CRL of a CA in the bundle other than the issuing one (an outer CA's, or a rotated-out CA's). */
export interface OtherCrl {
  readonly ca: ParsedCertificate;
  readonly crl: CrlState;
}

export interface TrustMaterial extends CaBundle {
  /** Every CRL as it was served: the issuing CA's first. */
  readonly crlPem: string;
  /** The issuing CA's CRL. */
  readonly crl: CrlState;
  readonly otherCrls: readonly OtherCrl[];
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
    // A self-signed CA ends a chain; another may follow it (a rotation's old CA, after the new one).
    if (selfSigned(c)) continue;
    if (!verifySignedBy(c.tbs, c.signatureOid, c.signature, chain[i + 1]!.spki)) {
      throw new AgentError("invalid-file", `The CA bundle from ${where} is not a chain: certificate ${i + 1} (${rfcName(c.subject)}) is not signed by the next one.`);
    }
  }
  return { caPem: pem, chain };
}

const selfSigned = (c: ParsedCertificate): boolean => c.issuerDer.equals(c.subjectDer) && verifySignedBy(c.tbs, c.signatureOid, c.signature, c.spki);

/** The CAs from `cert`'s issuer up to its root, as the bundle holds them (empty when no CA of the bundle issued it). */
export function pathOf(cert: ParsedCertificate, bundle: CaBundle): ParsedCertificate[] {
  const path: ParsedCertificate[] = [];
  for (let c = issuedBy(cert, bundle); c && !path.includes(c); c = selfSigned(c) ? undefined : issuedBy(c, bundle)) path.push(c);
  return path;
}

/**
 * Parses the CRLs and checks that the bundle's issuing CA signed the first. The others are kept
 * for the CAs of the bundle that signed them (two CAs of a rotation share a name: the
 * signature tells them apart); one signed by no CA of the bundle is ignored.
 */
export function parseCrlFor(bundle: CaBundle, crlPem: string, where: string): TrustMaterial {
  const ca = bundle.chain[0]!;
  let crl: CrlState;
  let der: Buffer;
  let blocks: Buffer[];
  try {
    der = fromPem(crlPem, ["X509 CRL"], "CRL");
    crl = crlStateFromDer(der);
    blocks = pemBlocks(crlPem).filter((b) => b.label === "X509 CRL").map((b) => b.der).slice(1);
  } catch (e) {
    throw new AgentError("invalid-file", `The CRL from ${where} cannot be read: ${(e as Error).message}.`);
  }
  if (!crl.issuer.equals(ca.subjectDer) || !crlSignedBy(der, ca.spki)) {
    throw new AgentError("invalid-file", `The CRL from ${where} was not issued by the CA ${rfcName(ca.subject)}; it cannot be trusted.`);
  }
  const otherCrls: OtherCrl[] = [];
  for (const b of blocks) {
    let other: CrlState;
    try {
      other = crlStateFromDer(b);
    } catch {
      continue;
    }
    const signer = bundle.chain.find((c) => c !== ca && other.issuer.equals(c.subjectDer) && crlSignedBy(b, c.spki));
    if (signer) otherCrls.push({ ca: signer, crl: other });
  }
  return { ...bundle, crlPem, crl, otherCrls };
}

/** The serials revoked by the CRL of `ca` (the issuing CA's, or another the bundle's CRLs hold). */
export function revokedBy(trust: TrustMaterial, ca: ParsedCertificate): ReadonlySet<bigint> | undefined {
  if (ca === trust.chain[0]) return trust.crl.serials;
  return trust.otherCrls.find((o) => o.ca === ca)?.crl.serials;
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
