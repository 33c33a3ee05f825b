/**
 * Who may call what: one table over roles, read top to bottom, first match wins, deny by
 * default. It mirrors Puppet Server's default auth.conf (reference 1.1), adds the endpoints
 * newer Puppet Servers have (sign, sign/all, generate, certificate_renewal), Puppet's status
 * service, and fleetca's JSON API. Rules from the `auth_rules` setting are checked before
 * these, so an operator can open or close any path.
 *
 * Roles (config/auth-rules.ts): anonymous (anyone), node (a valid certificate from this CA),
 * self (a node named by the :name in the path), admin, viewer, operator, deny (nobody).
 * A rule may admit several.
 *
 * Two guards make "no rule, no access" hold for routes as well as for paths: every route is
 * registered with the name of the rule that governs it (routing.ts checks at build time that
 * the table sends the route's URL to that rule), and a request that reaches a route registered
 * without one is refused here.
 */
import type { FastifyRequest } from "fastify";
import { hasRole, type Principal } from "../ca/principal.js";
import { allowedRoles, type AuthRole, type HttpMethod } from "../config/auth-rules.js";
import type { Settings } from "../config/index.js";

export interface Rule {
  /** Shown in the server log when the rule denies a request, as Puppet names its rules. */
  readonly name: string;
  readonly match: "exact" | "prefix";
  readonly path: string;
  readonly methods: readonly HttpMethod[] | "any";
  readonly allow: readonly AuthRole[];
}

const CA = "/puppet-ca/v1";
const API = "/api/v1";

const rule = (name: string, match: Rule["match"], path: string, methods: Rule["methods"], ...allow: AuthRole[]): Rule =>
  Object.freeze({ name, match, path, methods, allow: Object.freeze(allow) });

/* prettier-ignore */
export const BUILTIN_RULES: readonly Rule[] = Object.freeze([
  //    name                        match     path                                      methods                    allow
  rule("certificate",              "prefix", `${CA}/certificate/`,                      ["GET"],                   "anonymous"),
  rule("crl",                      "exact",  `${CA}/certificate_revocation_list/ca`,    ["GET"],                   "anonymous"),
  rule("crl update",               "exact",  `${CA}/certificate_revocation_list`,       ["PUT"],                   "admin"),
  rule("csr",                      "prefix", `${CA}/certificate_request/`,              ["GET", "PUT"],            "anonymous"),
  rule("csr delete",               "prefix", `${CA}/certificate_request/`,              ["DELETE"],                "admin"),
  rule("cert status",              "prefix", `${CA}/certificate_status/`,               ["GET", "PUT", "DELETE"],  "admin"),
  rule("cert statuses",            "prefix", `${CA}/certificate_statuses`,              ["GET"],                   "admin"),
  rule("expirations",              "exact",  `${CA}/expirations`,                       ["GET"],                   "node"),
  rule("certificate renewal",      "exact",  `${CA}/certificate_renewal`,               ["POST"],                  "node"),
  rule("sign",                     "exact",  `${CA}/sign`,                              ["POST"],                  "admin"),
  rule("sign all",                 "exact",  `${CA}/sign/all`,                          ["POST"],                  "admin"),
  rule("cert clean",               "exact",  `${CA}/clean`,                             ["PUT"],                   "admin"),
  rule("generate",                 "prefix", `${CA}/generate/`,                         ["POST"],                  "admin"),
  rule("status",                   "prefix", "/status/v1/simple",                       ["GET"],                   "anonymous"),
  rule("status services",          "prefix", "/status/v1/services",                     ["GET"],                   "anonymous"),
  rule("health",                   "exact",  "/healthz",                                ["GET"],                   "anonymous"),
  rule("readiness",                "exact",  "/readyz",                                 ["GET"],                   "anonymous"),
  rule("metrics",                  "exact",  "/metrics",                                ["GET"],                   "admin", "viewer"),
  rule("api session",              "exact",  `${API}/session`,                          ["GET", "POST", "DELETE"], "anonymous"),
  rule("api users",                "prefix", `${API}/users`,                            "any",                     "admin"),
  rule("api autosign edit",        "exact",  `${API}/autosign`,                         ["PUT"],                   "admin"),
  rule("api actions",              "prefix", `${API}/actions/`,                         ["POST"],                  "admin", "operator"),
  rule("api revoke",               "exact",  `${API}/revocations`,                      ["POST"],                  "admin", "operator"),
  rule("api regeneration dismiss", "exact",  `${API}/regeneration/dismiss`,            ["POST"],                  "admin", "operator"),
  rule("api read",                 "prefix", `${API}/`,                                 ["GET"],                   "admin", "viewer"),
  rule("console",                  "prefix", "/console",                                ["GET"],                   "anonymous"),
  rule("ocsp",                     "prefix", "/ocsp",                                   ["GET", "POST"],           "anonymous"),
  rule("deny all",                 "prefix", "/",                                       "any",                     "deny"),
]);

export const DENY_ALL: Rule = BUILTIN_RULES[BUILTIN_RULES.length - 1]!;

/** The refusal of a request that reached a route registered without a rule. */
export const UNRULED: Rule = rule("no rule for this route", "exact", "", "any", "deny");

const cache = new WeakMap<Settings, readonly Rule[]>();

/** The effective table: the `auth_rules` setting (prefix rules, in order) then the built-in rules. */
export function rulesFor(settings: Settings): readonly Rule[] {
  let rules = cache.get(settings);
  if (!rules) {
    const configured = settings.authRules.map((r, i) => rule(`auth_rules[${i + 1}]`, "prefix", r.path, r.methods, ...allowedRoles(r.allow)));
    rules = Object.freeze([...configured, ...BUILTIN_RULES]);
    cache.set(settings, rules);
  }
  return rules;
}

function matches(r: Rule, method: string, path: string): boolean {
  if (r.match === "exact" ? path !== r.path : !path.startsWith(r.path)) return false;
  if (r.methods === "any") return true;
  // HEAD is a GET without the body: a rule for GET covers it.
  return r.methods.some((m) => m === method || (method === "HEAD" && m === "GET"));
}

/** The first rule that matches; the final "deny all" matches everything. */
export function ruleFor(rules: readonly Rule[], method: string, path: string): Rule {
  return rules.find((r) => matches(r, method, path)) ?? DENY_ALL;
}

/** What a request offers the roles: the caller, and the :name its path names (for "self"). */
export interface Caller {
  principal: Principal;
  /** The route's :name parameter, when it has one. */
  subject?: string;
}

export function admits(allow: readonly AuthRole[], c: Caller): boolean {
  return allow.some((role) => {
    switch (role) {
      case "anonymous":
        return true;
      case "deny":
        return false;
      case "self":
        return c.principal.kind === "certificate" && hasRole(c.principal, "node") && c.subject !== undefined && c.subject === c.principal.name;
      default:
        return hasRole(c.principal, role);
    }
  });
}

/** Decides one request: the first matching rule, and whether it admits the caller. */
export function authorize(rules: readonly Rule[], method: string, path: string, caller: Caller): { rule: Rule; allowed: boolean } {
  const hit = ruleFor(rules, method, path);
  return { rule: hit, allowed: admits(hit.allow, caller) };
}

/**
 * The path the rules are checked against: the router's view of the URL (query and fragment
 * cut off, percent-escapes decoded), as Puppet's auth normalizes it. Matching the raw URL let
 * `/certificate/s%65cret` slip past a rule for `/certificate/secret` that the router then served.
 * A malformed escape is left as it is: the router refuses that URL itself.
 */
export function authPath(url: string): string {
  const raw = url.split(/[?#]/, 1)[0] || "/";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Puppet's exact 403 body (reference 1.1). */
export function forbiddenBody(method: string, path: string): string {
  return `Forbidden request: ${path} (method :${method.toLowerCase()}). Please see the server logs for details.`;
}

/**
 * Thrown by the authorization hook; each surface's error handler renders it in its own way
 * (Puppet's text 403 without a Content-Type, or the JSON API's {"kind": "forbidden"}).
 */
export class AccessDenied extends Error {
  readonly statusCode = 403;
  constructor(
    readonly rule: Rule,
    readonly method: string,
    /** The request path as the client sent it (no query). */
    readonly path: string,
  ) {
    super(forbiddenBody(method, path));
    this.name = "AccessDenied";
  }
}

/** The route's rule name, set by routing.ts on every route it registers. */
export function declaredRule(request: FastifyRequest): string | undefined {
  const config = request.routeOptions.config as { rule?: unknown } | undefined;
  return typeof config?.rule === "string" ? config.rule : undefined;
}
