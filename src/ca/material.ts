/**
 * The CA's credentials in memory: parsed once, reloaded when the store says they changed
 * (a CLI revoke while the server runs is enforced within a second).
 */
import type { KeyObject } from "node:crypto";
import { parseCertificateChain, type ParsedCertificate } from "../pki/certificate.js";
import { crlStateFromPem, type CrlState } from "../pki/crl.js";
import type { PemPair } from "../pki/pem-reuse.js";
import { loadPrivateKey } from "../pki/keys.js";
import { spkiDer } from "../pki/keys.js";
import { outerCrlsPem } from "./crl-chain.js";
import { CaError } from "./errors.js";
import type { CaMaterial } from "./store.js";

export interface LoadedMaterial {
  raw: CaMaterial;
  cert: ParsedCertificate;
  chain: ParsedCertificate[];
  /** Undefined when the store could not give it (keyProblem); signingKey() is how signing code gets it. */
  key: KeyObject | undefined;
  keyProblem?: string;
  crl: CrlState;
  /**
   * The CRLs that follow this CA's own in ca_crl.pem (an intermediate CA's outer CAs, PEM, ""
   * when none): every CRL this CA signs is published with them after it (crl-chain.ts).
   */
  outerCrlPem: string;
  /**
   * The CRL's DER and PEM as this process last signed and encoded them, so the next revoke
   * re-encodes only what changed (pem-reuse.ts). Unset when the CRL was read from the store.
   */
  crlEncoded?: PemPair;
  /** The store's version token these were loaded at. */
  version: string;
}

export function loadMaterial(raw: CaMaterial, version: string): LoadedMaterial {
  const chain = parseCertificateChain(raw.certPem);
  const cert = chain[0];
  if (!cert) throw new CaError("invalid-ca-material", "The CA certificate file holds no certificate; restore it from a backup or run `fleetca ca setup`.");
  const base = { raw, cert, chain, crl: crlStateFromPem(raw.crlPem), outerCrlPem: outerCrlsPem(raw.crlPem), version };
  if (raw.keyProblem !== undefined) return { ...base, key: undefined, keyProblem: raw.keyProblem };
  const key = loadPrivateKey(raw.keyPem, "CA private key");
  const pub = spkiDer(key);
  if (!pub.equals(cert.spki)) {
    throw new CaError("invalid-ca-material", "The CA private key does not match the CA certificate; restore both from the same backup.");
  }
  return { ...base, key };
}

/** The CA key for signing (certificates, CRLs, OCSP), or the reason it cannot be used as a typed error. */
export function signingKey(m: LoadedMaterial): KeyObject {
  if (m.key) return m.key;
  throw new CaError("key-unavailable", `This CA cannot sign: ${m.keyProblem ?? "its private key is not available"}.`);
}
