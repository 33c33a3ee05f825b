/**
 * csr_attributes.yaml, as Puppet reads it: `custom_attributes` (CSR attributes such as challengePassword) and
 * `extension_requests` (extensions asked for in the certificate, by Puppet short name or dotted OID).
 * Parsed as YAML 1.1 because Puppet uses Ruby's Psych: unquoted `yes` is a boolean there, and Puppet then writes
 * its text ("true"), so we do the same.
 */
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import { OID, resolveOid } from "../pki/oids.js";
import { AgentError } from "./errors.js";

export interface CsrAttributes {
  attributes: { oid: string; value: string }[];
  extensionRequests: { oid: string; value: string }[];
}

export const NO_ATTRIBUTES: CsrAttributes = Object.freeze({ attributes: [], extensionRequests: [] }) as CsrAttributes;

/** Attribute names OpenSSL knows that people write in csr_attributes.yaml. */
const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  challengePassword: OID.challengePassword,
  unstructuredName: "1.2.840.113549.1.9.2",
};

/** Loads the file; a missing file means no attributes, as in Puppet. */
export async function loadCsrAttributes(file: string): Promise<{ attrs: CsrAttributes; loaded: boolean }> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { attrs: NO_ATTRIBUTES, loaded: false };
    throw new AgentError("invalid-file", `Cannot read the CSR attributes file ${file}: ${(e as Error).message}`);
  }
  return { attrs: parseCsrAttributes(text, file), loaded: true };
}

export function parseCsrAttributes(text: string, file: string): CsrAttributes {
  let doc: unknown;
  try {
    // Loaded here, not imported at the top: every fleetca command loads this module (~40 ms
    // of start-up for the YAML parser), few read a csr_attributes.yaml.
    const { parse } = createRequire(import.meta.url)("yaml") as typeof import("yaml");
    doc = parse(text, { version: "1.1" });
  } catch (e) {
    throw invalid(file, `it is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return NO_ATTRIBUTES;
  if (!isMap(doc)) throw invalid(file, "expected a mapping with custom_attributes and/or extension_requests");
  const unknown = Object.keys(doc).filter((k) => k !== "custom_attributes" && k !== "extension_requests");
  if (unknown.length > 0) throw invalid(file, `unexpected key(s) ${unknown.join(", ")}; only custom_attributes and extension_requests are read`);
  const attributes = entries(doc.custom_attributes, "custom_attributes", file).map(([name, value]) => {
    const oid = ATTRIBUTE_NAMES[name] ?? resolveOid(name);
    if (!oid) throw invalid(file, `custom_attributes: unknown attribute "${name}"; use challengePassword, unstructuredName or a dotted OID`);
    if (oid === OID.extensionRequest) throw invalid(file, `custom_attributes: ${name} is the extension request itself; put extensions under extension_requests`);
    return { oid, value };
  });
  const extensionRequests = entries(doc.extension_requests, "extension_requests", file).map(([name, value]) => {
    const oid = resolveOid(name);
    if (!oid) throw invalid(file, `extension_requests: unknown extension "${name}"; use a Puppet short name (pp_uuid, pp_role, …) or a dotted OID`);
    if (oid === OID.subjectAltName) throw invalid(file, "extension_requests: ask for subject alternative names with --dns-alt-names (dns_alt_names), not here");
    return { oid, value };
  });
  return { attributes, extensionRequests };
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The section's [name, text] pairs; scalars become text as Ruby's to_s would write them. */
function entries(section: unknown, what: string, file: string): [string, string][] {
  if (section === undefined || section === null) return [];
  if (!isMap(section)) throw invalid(file, `${what} should be a mapping of name: value`);
  return Object.entries(section).map(([name, v]) => {
    if (typeof v === "string") return [name, v];
    if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return [name, String(v)];
    throw invalid(file, `${what}.${name} should be a single value (text or number)`);
  });
}

const invalid = (file: string, why: string): AgentError =>
  new AgentError("invalid-file", `Invalid CSR attributes file ${file}: ${why}.`);
