/**
 * Who signs the server's OCSP answers (the `ocsp_signer` setting):
 *
 * - `delegated` (default): a responder certificate the server issues itself through the CA's
 *   one issuing path (ca.issueOcspResponder: id-kp-OCSPSigning only, ocsp-nocheck, no
 *   pp_cli_auth), for a key of its own (`ocsp_signer_key_type`, EC P-256 by default), kept in
 *   the server's ssldir beside its TLS credentials as `ocsp-responder.<certname>`. It is
 *   renewed in the background at two thirds of `ocsp_signer_ttl` (answers keep being signed
 *   by the current one meanwhile), and issued again at once when it expired, was revoked, or
 *   the CA changed. Why the default: the CA key stays out of a path any anonymous caller can
 *   make sign, and a P-256 signature costs ~1/100 of an RSA-4096 one (Puppet's default CA
 *   key), so uncached answers are bounded by HTTP, not by the CA key.
 * - `ca`: the CA key signs (no extra certificate in the answers; as slow as the CA key).
 */
import type { Logger } from "pino";
import type { CertificateAuthority } from "../../ca/authority.js";
import { OcspUnavailable } from "../../ca/ocsp.js";
import type { Settings } from "../../config/index.js";
import { certToPem, parseCertificatePem, verifySignedBy, type ParsedCertificate } from "../../pki/certificate.js";
import { generateKeyPair, loadPrivateKey, privateKeyToPem, spkiDer, type KeySpec } from "../../pki/keys.js";
import { ocspSigningKey, type OcspSigningKey } from "../../pki/ocsp.js";
import { signingKey } from "../../ca/material.js";
import { SERVER, type IdentityFiles } from "../identity.js";

/** The CA key as the signer, one object per CA certificate (the responder's cache is keyed on it). */
export function caSigner(ca: () => CertificateAuthority): () => Promise<OcspSigningKey> {
  let last: { pem: string; signer: OcspSigningKey } | undefined;
  return async () => {
    const m = await ca().current();
    if (last?.pem !== m.raw.certPem) last = { pem: m.raw.certPem, signer: ocspSigningKey(signingKey(m), m.cert.spki) };
    return last.signer;
  };
}

/** The delegated responder's certname: beside the server's, where no agent's name is likely. */
export const responderName = (certname: string): string => `ocsp-responder.${certname}`;

export function responderKeySpec(s: Pick<Settings, "ocspSignerKeyType" | "curve" | "keylength">): KeySpec {
  return s.ocspSignerKeyType === "ec" ? { type: "ec", curve: s.curve } : { type: "rsa", bits: s.keylength };
}

interface Held {
  readonly signer: OcspSigningKey;
  readonly cert: ParsedCertificate;
  /** The CA certificate it was issued under. */
  readonly caPem: string;
  /** Renewed from then on (ms since the epoch). */
  readonly renewAt: number;
}

export interface DelegatedSignerDeps {
  ca: () => CertificateAuthority;
  settings: () => Settings;
  files: IdentityFiles;
  log: Logger;
  clock?: () => Date;
}

export class DelegatedSigner {
  private held?: Held;
  private loading?: Promise<Held>;
  private renewing?: Promise<void>;
  private readonly clock: () => Date;

  constructor(private readonly d: DelegatedSignerDeps) {
    this.clock = d.clock ?? (() => new Date());
  }

  /** The responder's certificate now, if one is held. */
  get certificate(): ParsedCertificate | undefined {
    return this.held?.cert;
  }

  /** The signer for the next answer: the held one while it is usable, else one loaded or issued now. */
  readonly current = async (): Promise<OcspSigningKey> => {
    const m = await this.d.ca().current();
    const h = this.held;
    const now = this.clock().getTime();
    if (h && h.caPem === m.raw.certPem && now < h.cert.notAfter.getTime() && !m.crl.serials.has(h.cert.serial)) {
      if (now >= h.renewAt) this.renewInBackground();
      return h.signer;
    }
    try {
      return (await this.load()).signer;
    } catch (e) {
      throw new OcspUnavailable(`the OCSP responder certificate could not be loaded or issued: ${(e as Error).message}`);
    }
  };

  /** Loads the responder from the ssldir, or issues one; one at a time. */
  private load(): Promise<Held> {
    this.loading ??= this.loadOrIssue().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async loadOrIssue(): Promise<Held> {
    const name = responderName(this.d.settings().certname);
    const m = await this.d.ca().current();
    const { certPem, keyPem } = await this.d.files.readIdentity(name);
    if (certPem && keyPem) {
      try {
        const cert = parseCertificatePem(certPem);
        const key = loadPrivateKey(keyPem, "OCSP responder key");
        const now = this.clock().getTime();
        const usable =
          spkiDer(key).equals(cert.spki) &&
          cert.issuerDer.equals(m.cert.subjectDer) &&
          verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, m.cert.spki) &&
          !m.crl.serials.has(cert.serial) &&
          now < renewAtOf(cert);
        if (usable) return (this.held = { signer: ocspSigningKey(key, cert.spki, cert.der), cert, caPem: m.raw.certPem, renewAt: renewAtOf(cert) });
      } catch (e) {
        this.d.log.warn({ err: e }, `the OCSP responder files in ${this.d.files.dir} cannot be used (${(e as Error).message}); issuing a new responder certificate`);
      }
    }
    return (this.held = await this.issue(name));
  }

  private async issue(name: string): Promise<Held> {
    const settings = this.d.settings();
    const ca = this.d.ca();
    const m = await ca.current();
    const keys = await generateKeyPair(responderKeySpec(settings));
    const spki = spkiDer(keys.publicKey);
    const cert = await ca.issueOcspResponder(name, spki, { by: SERVER, ttlSeconds: settings.ocspSignerTtl });
    await this.d.files.writeIdentity(name, privateKeyToPem(keys.privateKey), certToPem(cert.der));
    this.d.log.info({ msg: "ocsp responder certificate issued", name, serial: cert.serial.toString(16).toUpperCase(), notAfter: cert.notAfter.toISOString() });
    return { signer: ocspSigningKey(keys.privateKey, spki, cert.der), cert, caPem: m.raw.certPem, renewAt: renewAtOf(cert) };
  }

  private renewInBackground(): void {
    if (this.renewing || this.loading) return;
    this.renewing = this.issue(responderName(this.d.settings().certname))
      .then((h) => void (this.held = h))
      .catch((e: unknown) => this.d.log.warn({ err: e }, `could not renew the OCSP responder certificate (the current one is used until it expires): ${(e as Error).message}`))
      .finally(() => (this.renewing = undefined));
  }
}

/**
 * Two thirds into the certificate's life as the setting meant it: the issuing path backdates
 * notBefore by a day (clock skew), so the life is counted back from notAfter.
 */
function renewAtOf(cert: ParsedCertificate): number {
  const issued = cert.notBefore.getTime() + 86_400_000;
  const life = cert.notAfter.getTime() - issued;
  return issued + (life * 2) / 3;
}
