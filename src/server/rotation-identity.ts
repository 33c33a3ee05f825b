/**
 * The server's TLS certificate during a rotation's overlap (ca/lifecycle/rotation.ts): the one
 * of the OLD CA. A Puppet 7 agent never fetches the CA bundle again once it has one, so an
 * agent enrolled under the old CA can verify only a server certificate of the old CA; every
 * agent that fetched the bundle during the overlap trusts both. So the server keeps presenting
 * its old-CA certificate (kept in `previous-ca/` inside its ssldir, in the same layout) until
 * the overlap ends, and its new-CA one from then on.
 */
import { parseCertificatePem } from "../pki/certificate.js";
import { loadPrivateKey, spkiDer } from "../pki/keys.js";
import { signedByOldCa, type RotationOverlap } from "../ca/lifecycle/rotation.js";
import type { IdentityFiles } from "./identity.js";

/** The subdirectory of the server's ssldir that holds its old-CA credentials. */
export const PREVIOUS_CA_DIR = "previous-ca";

/** The old-CA certificate and key in `files`, when they are that and belong together. */
async function oldCaIdentity(files: IdentityFiles, certname: string, o: RotationOverlap, now: Date): Promise<{ certPem: string; keyPem: string } | undefined> {
  const { certPem, keyPem } = await files.readIdentity(certname);
  if (!certPem || !keyPem) return undefined;
  try {
    const cert = parseCertificatePem(certPem);
    if (!signedByOldCa(cert, o) || now > cert.notAfter || o.oldRevoked.has(cert.serial)) return undefined;
    if (!spkiDer(loadPrivateKey(keyPem, "server private key")).equals(cert.spki)) return undefined;
    return { certPem, keyPem };
  } catch {
    return undefined;
  }
}

/**
 * Copies the server's old-CA credentials from `current` into `previous` before the new ones
 * replace them (`ca regenerate --mode rotate` on this host, or a server of the same CA
 * elsewhere that finds its certificate issued by the old CA). True when it copied them.
 */
export async function keepPreviousIdentity(current: IdentityFiles, previous: IdentityFiles, certname: string, o: RotationOverlap, now: Date): Promise<boolean> {
  const id = await oldCaIdentity(current, certname, o, now);
  if (!id) return false;
  await previous.writeIdentity(certname, id.keyPem, id.certPem);
  await previous.writeCa(o.oldCaCertPem, o.oldCrlPem);
  return true;
}

/** The credentials to present during the overlap, or undefined when none of the old CA is kept. */
export function overlapIdentity(previous: IdentityFiles, certname: string, o: RotationOverlap, now: Date): Promise<{ certPem: string; keyPem: string } | undefined> {
  return oldCaIdentity(previous, certname, o, now);
}
