/**
 * Certname rules, checked before a name touches a path or a query. Puppet's own rules
 * (reference 1.3): lowercase; dot-separated labels of letters, digits, '-' and '_' that
 * do not end in '-'; the first label starts with a letter, digit or '_'; a trailing dot
 * is accepted. fleetca also refuses what Puppet's router rejects (other characters) and
 * over-long names, so no name can escape the CA directory.
 */
import { CaError } from "./errors.js";

export const MAX_NAME_LENGTH = 253;

const LABEL = /^[a-z0-9_-]*[a-z0-9_]$/;

/** Throws CaError("invalid-name") naming the rule broken; returns the name otherwise. */
export function validateCertname(name: string): string {
  const fail = (why: string) => {
    throw new CaError("invalid-name", `Invalid certname ${JSON.stringify(name)}: ${why}`);
  };
  if (name.length === 0) fail("the name is empty");
  if (name.length > MAX_NAME_LENGTH) fail(`the name is longer than ${MAX_NAME_LENGTH} characters`);
  if (name.includes("*")) throw new CaError("invalid-name", `Subject contains a wildcard, which is not allowed: ${name}`);
  if (/[^\x21-\x7e]/.test(name)) fail("only ASCII letters, digits, '.', '-' and '_' are allowed");
  if (/[A-Z]/.test(name)) throw new CaError("invalid-name", "Certificate names must be lower case.");
  if (/[^a-z0-9._-]/.test(name)) fail("only lowercase letters, digits, '.', '-' and '_' are allowed");
  if (name === "." || name === ".." || name.startsWith(".")) fail("the name must not start with '.'");
  const labels = (name.endsWith(".") ? name.slice(0, -1) : name).split(".");
  if (labels.some((l) => l.length === 0 || !LABEL.test(l)) || !/^[a-z0-9_]/.test(labels[0]!)) {
    throw new CaError(
      "invalid-name",
      `Subject hostname format is invalid: ${JSON.stringify(name)} (each dot-separated label needs letters, digits, '-' or '_', must not end in '-' and must not be empty)`,
    );
  }
  return name;
}

/** For callers that must not throw (filters): true when validateCertname accepts it. */
export function isValidCertname(name: string): boolean {
  try {
    validateCertname(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * The other spelling of the same DNS name: "host.example.com." for "host.example.com" and
 * back. Both are valid certnames (Puppet accepts the trailing dot), but TLS host checks treat
 * them as one host, so a certificate for one is a certificate for the other.
 */
export function trailingDotTwin(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : `${name}.`;
}
