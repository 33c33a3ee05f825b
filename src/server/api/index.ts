/**
 * The JSON API under /api/v1, for the console and scripts: JSON bodies only, and every error
 * as {"kind": ..., "message": ...} with the status of its kind (errors.ts), including a
 * denial and an unknown path. Who may call what is in the rule table (src/server/auth.ts).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isCaError } from "../../ca/errors.js";
import { StoreUnavailableError } from "../../ca/store.js";
import { storeUnavailable } from "../errors.js";
import { principalLabel } from "../../ca/principal.js";
import { AccessDenied } from "../auth.js";
import { LoginError } from "../../ca/console/access.js";
import { identityOf, principalOf } from "../client.js";
import { csrfMatches, CSRF_HEADER } from "../console/session.js";
import type { ServerDeps } from "../deps.js";
import { addRoutes } from "../routing.js";
import { API_STATUS, type ApiErrorBody, type ApiErrorKind } from "./errors.js";
import { API_ROUTES } from "./routes.js";

export const API_PREFIX = "/api/v1";

/** A request body of the JSON API (the console's actions) is a few hundred bytes. */
const API_BODY_LIMIT = 64 * 1024;

function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).header("cache-control", "no-store").type("application/json; charset=utf-8").send(JSON.stringify(body));
}

function fail(reply: FastifyReply, kind: ApiErrorKind, message: string): FastifyReply {
  const body: ApiErrorBody = { kind, message };
  return send(reply, API_STATUS[kind], body);
}

function denial(e: AccessDenied, request: FastifyRequest): string {
  const who = principalOf(request);
  const caller = who.kind === "anonymous" ? `an anonymous caller${who.refused ? ` (client certificate ${who.refused})` : ""}` : `${principalLabel(who)} (${who.roles.join(", ") || "no roles"})`;
  const admits = e.rule.allow.includes("deny") ? "nobody" : e.rule.allow.join(", ");
  return `${e.method} ${e.path} is not allowed for ${caller}: the rule '${e.rule.name}' admits ${admits}.`;
}

class CsrfRefused extends Error {}

/** No Origin (a script, or a same-origin GET) or the server's own. */
function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

function errorHandler(deps: ServerDeps) {
  return async (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const e = error as Error & { statusCode?: number; code?: string };
    if (e instanceof AccessDenied && principalOf(request).kind === "anonymous") {
      return fail(reply, "unauthenticated", `${denial(e, request)} Log in (POST ${API_PREFIX}/session) or present an admin client certificate.`);
    }
    if (e instanceof AccessDenied) return fail(reply, "forbidden", denial(e, request));
    if (e instanceof CsrfRefused) return fail(reply, "csrf", e.message);
    if (e instanceof LoginError) {
      if (e.until) reply.header("retry-after", String(Math.max(1, Math.ceil((e.until.getTime() - Date.now()) / 1000))));
      return fail(reply, e.kind, e.message);
    }
    if (isCaError(e)) return fail(reply, e.kind, e.message);
    if (e instanceof StoreUnavailableError) return fail(reply, "unavailable", storeUnavailable(e, deps.log, request.url.split("?")[0] ?? "/", reply));
    if (e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return fail(reply, "unsupported-media-type", "The JSON API takes request bodies as application/json only.");
    if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") return fail(reply, "payload-too-large", `The request body is larger than ${API_BODY_LIMIT} bytes.`);
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) return fail(reply, "invalid-request", e.message);
    deps.log.error({ err: e, path: request.url.split("?")[0] }, "unexpected failure while answering a request");
    return fail(reply, "internal", "Internal error: see the fleetca server log for details.");
  };
}

export function apiPlugin(deps: ServerDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: API_BODY_LIMIT }, (_request, body, done) => {
      try {
        done(null, body === "" ? undefined : JSON.parse(body as string));
      } catch {
        done(Object.assign(new Error("The request body is not valid JSON."), { statusCode: 400 }), undefined);
      }
    });
    // Before the routes and the 404 handler: they take the error handler in force when added.
    app.setErrorHandler(errorHandler(deps));
    app.setNotFoundHandler(async (request, reply) => {
      const path = request.url.split("?")[0];
      return fail(reply, "not-found", `No such endpoint: ${request.method} ${path}. The JSON API serves ${API_ROUTES.map((r) => `${r.method} ${API_PREFIX}${r.url}`).join(", ")}.`);
    });
    // A change made with a console session carries the session's CSRF token; a browser sending
    // an admin certificate must be on this origin. Checked after authorization (app.ts).
    app.addHook("onRequest", async (request) => {
      if (request.method === "GET" || request.method === "HEAD") return;
      const { principal, session } = identityOf(request);
      if (session && !(request.method === "POST" && request.url.split("?")[0] === `${API_PREFIX}/session`) && !csrfMatches(request, session.csrf)) {
        throw new CsrfRefused(`This change needs the session's CSRF token in the ${CSRF_HEADER} header (GET ${API_PREFIX}/session returns it); reload the console and try again.`);
      }
      if (principal.kind === "certificate" && !sameOrigin(request)) {
        throw new CsrfRefused(`A change from a page on ${String(request.headers.origin)} is refused: the console only accepts changes from its own origin.`);
      }
    });
    addRoutes(app, API_PREFIX, API_ROUTES, (route) => async (request, reply) => send(reply, 200, await route.handler(request, deps, reply)));
  };
}
