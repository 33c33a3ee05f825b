/** Turns a stored CSR or certificate into the index entry `list` shows (the store calls this for foreign files). */
import { parseCertificateDer, type ParsedCertificate } from "../pki/certificate.js";
import { parseCsrDer, type ParsedCsr } from "../pki/csr.js";
import { extensionText } from "../pki/extensions.js";
import { fingerprint } from "../pki/fingerprint.js";
import { isAuthorizationExtension, shortNameOf } from "../pki/oids.js";
import { fromPem } from "../pki/pem.js";
import type { IndexEntry, Summarize } from "./store.js";

function authExtensions(p: ParsedCsr | ParsedCertificate): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of p.extensions) if (isAuthorizationExtension(e.oid)) out[shortNameOf(e.oid) ?? e.oid] = extensionText(e.value);
  return out;
}

export function requestEntry(name: string, csr: ParsedCsr): IndexEntry {
  return { name, state: "requested", sha256: fingerprint(csr.der), altNames: csr.altNames, authExtensions: authExtensions(csr) };
}

export function certificateEntry(name: string, cert: ParsedCertificate): IndexEntry {
  return {
    name,
    state: "signed",
    sha256: fingerprint(cert.der),
    altNames: cert.altNames,
    authExtensions: authExtensions(cert),
    serial: cert.serial,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

export const summarize: Summarize = (name, kind, pem) =>
  kind === "request"
    ? requestEntry(name, parseCsrDer(fromPem(pem, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"], "certificate request")))
    : certificateEntry(name, parseCertificateDer(fromPem(pem, ["CERTIFICATE"], "certificate")));
