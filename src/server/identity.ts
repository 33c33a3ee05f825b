/**
 * First boot as Puppet Server does it: create the CA when the store has none, then issue
 * the server's own certificate (with pp_cli_auth, so it may call the admin API) and keep
 * it in the server's ssldir. Later boots reuse both.
 */
import type { CertificateAuthority } from "../ca/authority.js";
import { CaError } from "../ca/errors.js";
import { generateCertificate } from "../ca/generate.js";
import { systemPrincipal } from "../ca/principal.js";
import { setupCa } from "../ca/setup.js";
import { StoreConflictError, type CaStore } from "../ca/store.js";
import { keySpecOf, type Settings } from "../config/index.js";
import { parseCertificatePem, verifySignedBy, type ParsedCertificate } from "../pki/certificate.js";
import { loadPrivateKey, spkiDer } from "../pki/keys.js";

/** Where the server keeps its key and certificate (host/ssldir.ts implements it on disk). */
export interface IdentityFiles {
  readonly dir: string;
  readIdentity(certname: string): Promise<{ certPem?: string; keyPem?: string }>;
  writeIdentity(certname: string, keyPem: string, certPem: string): Promise<void>;
  writeCa(caPem: string, crlPem: string): Promise<void>;
}

/** fleetca's server acting on its own behalf (first boot), in the audit trail. */
export const SERVER = systemPrincipal("fleetca server");


/**
 * Creates the CA if the store has none. Returns true when it did. Servers started together on
 * an empty shared store all try; the store lets one write its CA (StoreConflictError for the
 * others), and the others serve that one.
 */
export async function ensureCa(store: CaStore, settings: Settings, now = new Date()): Promise<boolean> {
  if (await store.isInitialized()) return false;
  try {
    await setupCa(store, { caName: settings.caName, key: keySpecOf(settings), caTtl: settings.caTtl, crlTtl: settings.crlTtl, now, by: SERVER });
  } catch (e) {
    const lost = e instanceof StoreConflictError || (e instanceof CaError && e.kind === "already-initialized");
    if (lost && (await store.isInitialized())) return false;
    throw e;
  }
  return true;
}

/** The names in the server certificate: dns_alt_names, or Puppet's default of "puppet" and the host name; plus the certname. */
export function serverAltNames(settings: Settings, hostName: string): string[] {
  const base = settings.dnsAltNames.length > 0 ? [...settings.dnsAltNames] : ["puppet", hostName.toLowerCase()];
  return [...new Set([...base, settings.certname])];
}

export interface ServerIdentity {
  keyPem: string;
  certPem: string;
  cert: ParsedCertificate;
  /** True when the certificate was issued during this start. */
  issued: boolean;
}

/** Why an existing server certificate cannot be used, or undefined when it can. */
async function problemWith(ca: CertificateAuthority, certPem: string, keyPem: string, now: Date): Promise<string | undefined> {
  const material = await ca.current();
  const cert = parseCertificatePem(certPem);
  if (!spkiDer(loadPrivateKey(keyPem, "server private key")).equals(cert.spki)) return "it does not match the private key beside it";
  if (!verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, material.cert.spki)) return "it was not issued by the current CA";
  if (material.crl.serials.has(cert.serial)) return "it is revoked";
  if (now > cert.notAfter) return `it expired at ${cert.notAfter.toISOString()}`;
  return undefined;
}

export async function ensureServerIdentity(
  ca: CertificateAuthority,
  settings: Settings,
  files: IdentityFiles,
  hostName: string,
  now = new Date(),
): Promise<ServerIdentity> {
  const name = settings.certname;
  const existing = await files.readIdentity(name);
  let problem: string | undefined;
  if (existing.certPem && existing.keyPem) {
    problem = await problemWith(ca, existing.certPem, existing.keyPem, now);
    if (!problem) return { keyPem: existing.keyPem, certPem: existing.certPem, cert: parseCertificatePem(existing.certPem), issued: false };
  }
  let made;
  try {
    made = await generateCertificate(ca, name, {
      by: SERVER,
      dnsAltNames: serverAltNames(settings, hostName),
      key: keySpecOf(settings),
      cliAuth: true,
    });
  } catch (e) {
    // The CA has a certificate for this name but its key is not here (or no longer usable).
    if (e instanceof CaError && e.kind === "duplicate-cert") {
      const why = problem ? `the certificate in ${files.dir} cannot be used: ${problem}` : `there is no key and certificate for it in ${files.dir}`;
      throw new CaError("conflict", `The CA already has a certificate for the server's certname ${name}, but ${why}. Run \`fleetca ca clean ${name}\` and start the server again to issue a new one.`);
    }
    throw e;
  }
  await files.writeIdentity(name, made.keyPem, made.certPem);
  return { keyPem: made.keyPem, certPem: made.certPem, cert: made.cert, issued: true };
}
