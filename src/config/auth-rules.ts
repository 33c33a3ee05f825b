/**
 * `auth_rules`: extra entries for the server's authorization table, in the spirit of Puppet's auth.conf. Only the
 * shape is checked here; the server decides how the entries combine with its built-in rules.
 */
import type { Parser } from "./kinds.js";
import { didYouMean } from "./suggest.js";

export const HTTP_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/**
 * Who a rule lets through, over the caller's principal (src/ca/principal.ts):
 *   anonymous  anyone, with or without a client certificate
 *   node       a client certificate issued by this CA, valid and not revoked
 *   self       a node whose certname is the :name in the path (certificate_status/NAME ...)
 *   admin      a node with pp_cli_auth or on admin_allow_list; a console admin; the local operator
 *   viewer, operator   console roles (a console admin holds both)
 *   deny       nobody
 */
export const AUTH_ROLES = ["anonymous", "node", "self", "admin", "viewer", "operator", "deny"] as const;
export type AuthRole = (typeof AUTH_ROLES)[number];

/** The first wave's names, still accepted: `any` is anonymous, `authenticated` is node. */
export const AUTH_ALIASES: Readonly<Record<string, AuthRole>> = Object.freeze({ any: "anonymous", authenticated: "node" });

/** Every value `allow` accepts, as written. */
export const AUTH_ALLOW = [...AUTH_ROLES, ...Object.keys(AUTH_ALIASES)] as readonly string[];
export type AuthAllow = AuthRole | "any" | "authenticated";

export interface AuthRule {
  /** URL path prefix the rule applies to, e.g. "/puppet-ca/v1/certificate_status". */
  readonly path: string;
  /** Upper-case HTTP methods the rule applies to. */
  readonly methods: readonly HttpMethod[];
  /** As written: one value or a list (the server reads it through allowedRoles). */
  readonly allow: AuthAllow | readonly AuthAllow[];
}

/** The roles a rule admits, aliases resolved, without repeats. */
export function allowedRoles(allow: AuthRule["allow"]): readonly AuthRole[] {
  const list: readonly AuthAllow[] = typeof allow === "string" ? [allow] : allow;
  return [...new Set(list.map((a) => AUTH_ALIASES[a] ?? (a as AuthRole)))];
}

const RULE_KEYS = ["path", "methods", "allow"] as const;
const ALLOW_TEXT = `${AUTH_ROLES.join(", ")} (or the older any = anonymous, authenticated = node), or a list of them`;
const SHAPE = `a list of rules, each {path: "/prefix", methods: [GET, PUT, ...], allow: admin or [self, admin]} where allow is ${ALLOW_TEXT}`;

function parseAllow(allow: unknown): { value: AuthRule["allow"] } | { problem: string } {
  const one = (a: unknown): AuthAllow | undefined => (typeof a === "string" && AUTH_ALLOW.includes(a.trim()) ? (a.trim() as AuthAllow) : undefined);
  const problem = (a: unknown) => ({
    problem: `allow must be one of ${ALLOW_TEXT}, not ${JSON.stringify(a) ?? "missing"}${typeof a === "string" ? didYouMean(a, AUTH_ALLOW) : ""}`,
  });
  if (!Array.isArray(allow)) {
    const hit = one(allow);
    return hit === undefined ? problem(allow) : { value: hit };
  }
  if (allow.length === 0) return { problem: `allow must name at least one of ${ALLOW_TEXT}` };
  const out: AuthAllow[] = [];
  for (const a of allow) {
    const hit = one(a);
    if (hit === undefined) return problem(a);
    if (!out.includes(hit)) out.push(hit);
  }
  return { value: out };
}

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
  const who = parseAllow(allow);
  if ("problem" in who) return who.problem;
  return { path, methods: upper, allow: who.value };
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
