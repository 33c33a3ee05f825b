/**
 * Who may call what: one table, read top to bottom, first match wins, deny by default.
 * It mirrors Puppet Server's default auth.conf (reference 1.1) and adds the endpoints
 * newer Puppet Servers have (sign, sign/all, generate, certificate_renewal). Rules from the
 * `auth_rules` setting are checked before these, so an operator can open or close any path.
 *
 *   any           anyone, with or without a client certificate
 *   authenticated a client certificate issued by this CA and not revoked
 *   admin         authenticated, and carrying pp_cli_auth = "true" or listed in admin_allow_list
 *   deny          nobody
 */
import type { AuthAllow, HttpMethod, Settings } from "../config/index.js";

export interface Rule {
  /** Shown in the server log when the rule denies a request, as Puppet names its rules. */
  readonly name: string;
  readonly match: "exact" | "prefix";
  readonly path: string;
  readonly methods: readonly HttpMethod[] | "any";
  readonly allow: AuthAllow;
}

const CA = "/puppet-ca/v1";

const rule = (name: string, match: Rule["match"], path: string, methods: Rule["methods"], allow: AuthAllow): Rule => ({
  name, match, path, methods, allow,
});

/* prettier-ignore */
export const BUILTIN_RULES: readonly Rule[] = Object.freeze([
  //    name                        match     path                                      methods                    allow
  rule("certificate",              "prefix", `${CA}/certificate/`,                      ["GET"],                   "any"),
  rule("crl",                      "exact",  `${CA}/certificate_revocation_list/ca`,    ["GET"],                   "any"),
  rule("csr",                      "prefix", `${CA}/certificate_request/`,              ["GET", "PUT"],            "any"),
  rule("csr delete",               "prefix", `${CA}/certificate_request/`,              ["DELETE"],                "admin"),
  rule("cert status",              "prefix", `${CA}/certificate_status/`,               ["GET", "PUT", "DELETE"],  "admin"),
  rule("cert statuses",            "prefix", `${CA}/certificate_statuses`,              ["GET"],                   "admin"),
  rule("expirations",              "exact",  `${CA}/expirations`,                       ["GET"],                   "authenticated"),
  rule("certificate renewal",      "exact",  `${CA}/certificate_renewal`,               ["POST"],                  "authenticated"),
  rule("sign",                     "exact",  `${CA}/sign`,                              ["POST"],                  "admin"),
  rule("sign all",                 "exact",  `${CA}/sign/all`,                          ["POST"],                  "admin"),
  rule("cert clean",               "exact",  `${CA}/clean`,                             ["PUT"],                   "admin"),
  rule("generate",                 "prefix", `${CA}/generate/`,                         ["POST"],                  "admin"),
  rule("status",                   "exact",  "/status/v1/simple",                       ["GET"],                   "any"),
  rule("deny all",                 "prefix", "/",                                       "any",                     "deny"),
]);

const cache = new WeakMap<Settings, readonly Rule[]>();

/** The effective table: the `auth_rules` setting (prefix rules, in order) then the built-in rules. */
export function rulesFor(settings: Settings): readonly Rule[] {
  let rules = cache.get(settings);
  if (!rules) {
    const configured = settings.authRules.map((r, i) => rule(`auth_rules[${i + 1}]`, "prefix", r.path, r.methods, r.allow));
    rules = Object.freeze([...configured, ...BUILTIN_RULES]);
    cache.set(settings, rules);
  }
  return rules;
}

export interface Caller {
  authenticated: boolean;
  admin: boolean;
}

function matches(r: Rule, method: string, path: string): boolean {
  if (r.match === "exact" ? path !== r.path : !path.startsWith(r.path)) return false;
  if (r.methods === "any") return true;
  // HEAD is a GET without the body: a rule for GET covers it.
  return r.methods.some((m) => m === method || (method === "HEAD" && m === "GET"));
}

const permits: Readonly<Record<AuthAllow, (c: Caller) => boolean>> = {
  any: () => true,
  authenticated: (c) => c.authenticated,
  admin: (c) => c.admin,
  deny: () => false,
};

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

/** The first rule that matches decides; the final "deny all" rule matches everything. */
export function authorize(rules: readonly Rule[], method: string, path: string, caller: Caller): { rule: Rule; allowed: boolean } {
  const hit = rules.find((r) => matches(r, method, path)) ?? BUILTIN_RULES[BUILTIN_RULES.length - 1]!;
  return { rule: hit, allowed: permits[hit.allow](caller) };
}

/** Puppet's exact 403 body (reference 1.1). */
export function forbiddenBody(method: string, path: string): string {
  return `Forbidden request: ${path} (method :${method.toLowerCase()}). Please see the server logs for details.`;
}
