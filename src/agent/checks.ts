/**
 * Step 6's local half: does this node's certificate belong to its key, come from the saved CA, stand outside the
 * CRL, and hold at this moment? Pure: the clock's reading is an argument. Each failure is its own AgentError kind.
 */
import type { ParsedCertificate } from "../pki/certificate.js";
import type { CrlState } from "../pki/crl.js";
import { fingerprint } from "../pki/fingerprint.js";
import { rfcName } from "../pki/name.js";
import { AgentError, KEY_MISMATCH_MESSAGE, reenroll } from "./errors.js";
import { caSubject, pathOf, type CaBundle, type OtherCrl } from "./trust.js";

export interface CredentialCheck {
  certname: string;
  cert: ParsedCertificate;
  /** Where the certificate and key live, for the message. */
  certPath: string;
  keyPath: string;
  /** SubjectPublicKeyInfo DER of this node's private key. */
  keySpki: Buffer;
  bundle: CaBundle;
  /** The issuing CA's CRL. */
  crl: CrlState;
  /** The CRLs of the bundle's other CAs (a rotation's old CA), for a certificate one of them issued. */
  otherCrls?: readonly OtherCrl[];
  now: Date;
}

const hexSerial = (s: bigint): string => s.toString(16).toUpperCase();

export function describeCert(c: ParsedCertificate): string {
  return `${rfcName(c.subject)} (serial ${hexSerial(c.serial)}, SHA256 ${fingerprint(c.der)})`;
}

/** The first problem with the credentials, or undefined when they are good to use. */
export function checkCredentials(i: CredentialCheck): AgentError | undefined {
  const { cert, certname, now } = i;
  if (!cert.spki.equals(i.keySpki)) {
    return new AgentError("key-mismatch", KEY_MISMATCH_MESSAGE, {
      details: [`certificate: ${i.certPath}: ${describeCert(cert)}`, `private key: ${i.keyPath}`],
      remedies: reenroll(certname),
    });
  }
  const path = pathOf(cert, i.bundle);
  const issuer = path[0];
  if (!issuer) {
    return new AgentError(
      "untrusted-cert",
      `The certificate for ${certname} was not issued by the saved CA "${caSubject(i.bundle)}" (it names issuer ${rfcName(cert.issuer)}); the CA was probably regenerated.`,
      { details: [`certificate: ${i.certPath}: ${describeCert(cert)}`], remedies: [{ on: "agent", action: "clean-all" }, { on: "agent", action: "bootstrap-pinned" }] },
    );
  }
  const revoked = issuer === i.bundle.chain[0] ? i.crl.serials : i.otherCrls?.find((o) => o.ca === issuer)?.crl.serials;
  if (revoked?.has(cert.serial)) {
    return new AgentError("revoked", `The certificate for ${certname} (serial ${hexSerial(cert.serial)}) has been revoked by the CA.`, {
      details: [`certificate: ${i.certPath}`],
      remedies: [{ note: "If this node was retired on purpose, nothing needs fixing. To enroll it again:" }, ...reenroll(certname)],
    });
  }
  // The CAs this certificate depends on: in a rotation's bundle the other CA may end sooner.
  for (const ca of path) {
    const what = `The CA certificate "${rfcName(ca.subject)}"`;
    if (now < ca.notBefore) return notYetValid(what, ca, now);
    if (now > ca.notAfter) {
      return new AgentError("expired", `${what} expired at ${ca.notAfter.toISOString()} (now ${now.toISOString()}); no certificate it issued can be used.`, {
        remedies: [{ note: "The CA must be renewed or regenerated on the CA server; then, here:" }, { on: "agent", action: "clean-all" }, { on: "agent", action: "bootstrap-pinned" }],
      });
    }
  }
  if (now < cert.notBefore) return notYetValid(`The certificate for ${certname}`, cert, now);
  if (now > cert.notAfter) {
    return new AgentError("expired", `The certificate for ${certname} expired at ${cert.notAfter.toISOString()} (now ${now.toISOString()}).`, {
      details: [`certificate: ${i.certPath}`, "An expired certificate cannot authenticate a renewal; enroll again:"],
      remedies: reenroll(certname),
    });
  }
  return undefined;
}

function notYetValid(what: string, c: ParsedCertificate, now: Date): AgentError {
  return new AgentError(
    "not-yet-valid",
    `${what} is not valid until ${c.notBefore.toISOString()}, but this machine's clock says ${now.toISOString()}: the clock is probably wrong.`,
    { remedies: [{ on: "agent", action: "check-clock" }] },
  );
}

/** True when the certificate expires within `intervalSeconds` of now (0 turns automatic renewal off). */
export function dueForRenewal(cert: ParsedCertificate, now: Date, intervalSeconds: number): boolean {
  return intervalSeconds > 0 && cert.notAfter.getTime() - now.getTime() <= intervalSeconds * 1000;
}
