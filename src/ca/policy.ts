/**
 * What a CSR may ask for, checked when it is signed (Puppet's order and wording,
 * reference 1.3): extra subject alternative names, authorization extensions, and
 * extensions outside Puppet's arcs.
 */
import type { Extension } from "../pki/extensions.js";
import { OID, PP_CLI_AUTH, isAuthorizationExtension, isPuppetExtension } from "../pki/oids.js";
import { CaError } from "./errors.js";

export interface SigningPolicy {
  allowSubjectAltNames: boolean;
  allowAuthorizationExtensions: boolean;
}

export interface CsrFacts {
  name: string;
  altNames: string[];
  extensions: Extension[];
}

/** SAN entries that count as "extra": everything but DNS:<name>; email entries are ignored, as Puppet does. */
export function extraAltNames(f: CsrFacts): string[] {
  return f.altNames.filter((n) => n !== `DNS:${f.name}` && !n.startsWith("email:"));
}

/**
 * Throws CaError("disallowed-extension") with Puppet's message. `allowDnsAltNames` is the
 * operator's explicit `--allow-dns-alt-names` for this one signing.
 */
export function checkSigningPolicy(f: CsrFacts, p: SigningPolicy, allowDnsAltNames = false): Extension[] {
  const extra = extraAltNames(f);
  if (extra.length > 0 && !p.allowSubjectAltNames && !allowDnsAltNames) {
    throw new CaError(
      "disallowed-extension",
      `CSR '${f.name}' contains extra subject alternative names (${extra.join(", ")}), which are disallowed. ` +
        "To allow subject alternative names, sign with --allow-dns-alt-names, or set allow_subject_alt_names to true in the fleetca config and try signing this certificate again.",
    );
  }
  const auth = f.extensions.filter((e) => isAuthorizationExtension(e.oid));
  if (auth.length > 0 && !p.allowAuthorizationExtensions) {
    throw new CaError(
      "disallowed-extension",
      `CSR '${f.name}' contains an authorization extension, which is disallowed. ` +
        "To allow authorization extensions, set allow_authorization_extensions to true in the fleetca config and try signing this certificate again.",
    );
  }
  const bad = f.extensions
    .filter((e) => e.oid !== OID.subjectAltName && (!isPuppetExtension(e.oid) || e.oid === PP_CLI_AUTH))
    .map((e) => e.oid);
  if (bad.length > 0) throw new CaError("disallowed-extension", `Found extensions that are not permitted: ${bad.join(", ")}`);
  return f.extensions.filter((e) => e.oid !== OID.subjectAltName);
}
