/**
 * Extending an expiring CA: the CA certificate signed again by its own key with a later end
 * date. Subject, key, extensions and serial are those of the certificate it replaces, so
 * every certificate the CA issued still chains to it: their authority key identifier names
 * the CA's key identifier, issuer name and serial (profile.ts, authorityKeyIdFull), and
 * OpenSSL refuses an issuer whose serial differs from that one. A fresh serial would orphan
 * every node, so the serial is kept on purpose.
 */
import { certToPem, issueCertificate, parseCertificateChain } from "../../pki/certificate.js";
import { fingerprint } from "../../pki/fingerprint.js";
import { spkiDer } from "../../pki/keys.js";
import { auditRecord } from "../audit.js";
import type { CertificateAuthority } from "../authority.js";
import { CaError } from "../errors.js";
import { signingKey } from "../material.js";
import type { Principal } from "../principal.js";

const DAY_MS = 86_400_000;

export interface ExtendOptions {
  /** Seconds from now the extended certificate is valid. */
  caTtl: number;
  now: Date;
  by: Principal;
}

export interface Extended {
  caName: string;
  serial: bigint;
  oldFingerprint: string;
  newFingerprint: string;
  oldNotAfter: Date;
  notBefore: Date;
  notAfter: Date;
  caCertPem: string;
}

export async function extendCa(ca: CertificateAuthority, o: ExtendOptions): Promise<Extended> {
  const store = ca.store;
  if (!(await store.isInitialized())) throw new CaError("not-initialized", `No CA in ${store.location}: there is nothing to extend; run \`fleetca ca setup\`.`);
  const done = await store.withLock(async () => {
    const m = await ca.current(true);
    const old = parseCertificateChain(m.raw.certPem)[0]!;
    if (!old.issuerDer.equals(old.subjectDer)) {
      throw new CaError("invalid-request", `The CA certificate "${old.commonName}" is issued by another CA (an imported intermediate): only its issuer can give it a later end date. Ask that CA to re-issue it for the same key, then replace ca_crt.pem with the result.`);
    }
    const key = signingKey(m);
    if (!spkiDer(key).equals(old.spki)) throw new CaError("invalid-ca-material", "The CA key does not match the CA certificate; restore both from a backup before extending.");
    // A day back, as `ca setup` does: an agent whose clock is a little behind still accepts it.
    // Whole seconds, as the certificate holds them: what is reported is what was signed.
    const second = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
    const notBefore = second(o.now.getTime() - DAY_MS);
    const notAfter = second(o.now.getTime() + o.caTtl * 1000);
    if (notAfter.getTime() <= old.notAfter.getTime()) {
      throw new CaError("invalid-request", `With --ca-ttl ${Math.round(o.caTtl / 86400)}d the CA certificate would end ${notAfter.toISOString()}, not after its current end ${old.notAfter.toISOString()}; pass a longer --ca-ttl (e.g. 5y).`);
    }
    const der = await issueCertificate(
      { serial: old.serial, issuer: old.issuerDer, subject: old.subjectDer, notBefore, notAfter, spki: old.spki, extensions: old.extensions.map((e) => e.der) },
      key,
    );
    const caCertPem = certToPem(der);
    await store.putCaCertificate(caCertPem);
    return { caName: old.commonName, serial: old.serial, oldFingerprint: fingerprint(old.der), newFingerprint: fingerprint(der), oldNotAfter: old.notAfter, notBefore, notAfter, caCertPem };
  });
  await store.appendAudit([
    auditRecord(o.now, "extended", o.by, { serials: [done.serial], detail: `${done.caName}; until ${done.notAfter.toISOString()} (was ${done.oldNotAfter.toISOString()}); ${done.newFingerprint}` }),
  ]);
  await ca.current(true);
  return done;
}
