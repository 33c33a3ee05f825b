/**
 * `auth_rules`: extra entries for the server's authorization table, in the spirit of Puppet's auth.conf. Only the
 * shape is checked here; the server decides how the entries combine with its built-in rules.
 */
import type { Parser } from "./kinds.js";
import { didYouMean } from "./suggest.js";

export const HTTP_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export const AUTH_ALLOW = ["any", "authenticated", "admin", "deny"] as const;
/** Who a rule lets through: anyone, any client with a certificate from this CA, admin certs only, or nobody. */
export type AuthAllow = (typeof AUTH_ALLOW)[number];

export interface AuthRule {
  /** URL path prefix the rule applies to, e.g. "/puppet-ca/v1/certificate_status". */
  readonly path: string;
  /** Upper-case HTTP methods the rule applies to. */
  readonly methods: readonly HttpMethod[];
  readonly allow: AuthAllow;
}

const RULE_KEYS = ["path", "methods", "allow"] as const;
const SHAPE = "a list of rules, each {path: \"/prefix\", methods: [GET, PUT, ...], allow: any|authenticated|admin|deny}";

function parseRule(raw: unknown): AuthRule | string {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return "is not a mapping";
  const rule = raw as Record<string, unknown>;
  for (const key of Object.keys(rule)) {
    if (!(RULE_KEYS as readonly string[]).includes(key)) return `has unknown key ${JSON.stringify(key)}${didYouMean(key, RULE_KEYS)}`;
  }
  const { path, methods, allow } = rule;
  if (typeof path !== "string" || !/^\/\S*$/.test(path)) return "path must be a string starting with / and without spaces";
  const list: unknown[] | undefined = typeof methods === "string" ? [methods] : Array.isArray(methods) ? methods : undefined;
  if (list === undefined || list.length === 0) return `methods must be a non-empty list of ${HTTP_METHODS.join(", ")}`;
  const upper: HttpMethod[] = [];
  for (const m of list) {
    const hit = HTTP_METHODS.find((h) => typeof m === "string" && h === m.trim().toUpperCase());
    if (hit === undefined) return `method ${JSON.stringify(m)} is not one of ${HTTP_METHODS.join(", ")}`;
    if (!upper.includes(hit)) upper.push(hit);
  }
  const who = AUTH_ALLOW.find((a) => a === allow);
  if (who === undefined) return `allow must be one of ${AUTH_ALLOW.join(", ")}, not ${JSON.stringify(allow) ?? "missing"}`;
  return { path, methods: upper, allow: who };
}

export const authRules: Parser<readonly AuthRule[]> = (raw) => {
  if (!Array.isArray(raw)) return { expected: SHAPE };
  const rules: AuthRule[] = [];
  for (const [i, item] of raw.entries()) {
    const rule = parseRule(item);
    if (typeof rule === "string") return { expected: `${SHAPE}; rule ${i + 1}: ${rule}` };
    rules.push(rule);
  }
  return { value: rules };
};
