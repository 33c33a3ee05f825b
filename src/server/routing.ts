/**
 * How every surface registers its routes: from a list in which each entry names the rule of
 * auth.ts that governs it. Registration fails, and the app is not built, when a route names
 * no rule, an unknown one, or one the table does not actually send the route's URL to (a
 * route added without its rule would otherwise be answered by whatever rule its path falls
 * under, or by "deny all" without anyone noticing why). The rule name travels in the route's
 * config; the authorization hook (app.ts) refuses a route whose config has none.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BUILTIN_RULES, ruleFor } from "./auth.js";

export type Method = "GET" | "PUT" | "POST" | "DELETE";

export interface RouteSpec {
  readonly method: Method;
  /** Relative to the surface's prefix, fastify syntax (`/certificate/:name`). */
  readonly url: string;
  /** The name of the rule in auth.ts's BUILTIN_RULES that decides who may call it. */
  readonly rule: string;
  /**
   * A concrete URL (relative, like `url`) the table must send to `rule`; default: `url` with
   * each parameter replaced by "example.test". Needed where the rule is narrower than the
   * pattern (the CRL route takes any key; its rule admits only "ca").
   */
  readonly example?: string;
}

/** The concrete URL a route's rule is checked against. */
export function exampleUrl(prefix: string, spec: RouteSpec): string {
  return prefix + (spec.example ?? spec.url.replace(/:[A-Za-z_]+/g, "example.test"));
}

/** Throws when the spec names no rule, an unknown one, or one its URL does not reach. */
export function checkRule(prefix: string, spec: RouteSpec): void {
  const where = `${spec.method} ${prefix}${spec.url}`;
  if (typeof spec.rule !== "string" || spec.rule === "") throw new Error(`route ${where} names no authorization rule; add one to src/server/auth.ts and name it on the route`);
  if (!BUILTIN_RULES.some((r) => r.name === spec.rule)) throw new Error(`route ${where} names the rule '${spec.rule}', which is not in src/server/auth.ts`);
  const url = exampleUrl(prefix, spec);
  const hit = ruleFor(BUILTIN_RULES, spec.method, url);
  if (hit.name !== spec.rule) throw new Error(`route ${where} names the rule '${spec.rule}', but the table decides ${spec.method} ${url} by '${hit.name}'`);
}

/** Registers routes on a surface (an encapsulated fastify instance registered with `prefix`). */
export function addRoutes<S extends RouteSpec>(
  app: FastifyInstance,
  prefix: string,
  specs: readonly S[],
  handle: (spec: S) => (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
  /** Largest request body per route, when not the surface's default. */
  bodyLimit: (spec: S) => number | undefined = () => undefined,
): void {
  for (const spec of specs) {
    checkRule(prefix, spec);
    app.route({ method: spec.method, url: spec.url, bodyLimit: bodyLimit(spec), config: { rule: spec.rule, spec }, handler: handle(spec) });
  }
}

/** The spec of the route a request reached (undefined for a 404 or a route added by other means). */
export function specOf<S extends RouteSpec>(request: FastifyRequest): S | undefined {
  return (request.routeOptions.config as { spec?: S } | undefined)?.spec;
}
