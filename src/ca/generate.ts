/**
 * Key and certificate for a system that cannot run an agent (seed 000, "external
 * systems"). The key is made here and handed to the caller; the CA keeps only the cert.
 */
import { AltNameError, encodeAltNames } from "../pki/altnames.js";
import { certToPem, type ParsedCertificate } from "../pki/certificate.js";
import { buildCsr, parseCsrDer } from "../pki/csr.js";
import { generateKeyPair, privateKeyToPem, type KeySpec } from "../pki/keys.js";
import type { CertificateAuthority } from "./authority.js";
import type { Principal } from "./principal.js";
import { CaError } from "./errors.js";
import { validateCertname } from "./names.js";

export interface GenerateOptions {
  dnsAltNames?: string[];
  /** The key type settings (key_type, keylength, curve): the same a CA-made key uses everywhere. */
  key: KeySpec;
  by: Principal;
  /** The server's own certificate: pp_cli_auth for admin API access. */
  cliAuth?: boolean;
  ttlSeconds?: number;
}

export interface Generated {
  keyPem: string;
  certPem: string;
  cert: ParsedCertificate;
}

export async function generateCertificate(ca: CertificateAuthority, name: string, o: GenerateOptions): Promise<Generated> {
  validateCertname(name);
  const alt = (o.dnsAltNames ?? []).map((n) => (n.includes(":") ? n : `DNS:${n}`));
  // Requested names first, then the certname, as Puppet orders its server certificate (DNS:puppet, DNS:<certname>).
  const altNames = alt.length > 0 ? [...new Set([...alt, `DNS:${name}`])] : [];
  try {
    encodeAltNames(altNames);
  } catch (e) {
    if (e instanceof AltNameError) throw new CaError("invalid-request", `Invalid dns_alt_names for ${name}: ${e.message}.`);
    throw e;
  }
  // Before the key: an RSA-4096 key takes a second to make, and a taken name is refused anyway.
  await ca.assertCanGenerate(name, o.by);
  const keys = await generateKeyPair(o.key);
  const csr = parseCsrDer(await buildCsr({ commonName: name, altNames }, keys.privateKey, keys.publicKey));
  // The operator asked for these names explicitly, which is what --allow-dns-alt-names means.
  const cert = await ca.issueGenerated(name, csr, { by: o.by, allowDnsAltNames: true, cliAuth: o.cliAuth, ttlSeconds: o.ttlSeconds });
  return { keyPem: privateKeyToPem(keys.privateKey), certPem: certToPem(cert.der), cert };
}
