/**
 * The JSON API under /api/v1, for the console and scripts: JSON bodies only, and every error
 * as {"kind": ..., "message": ...} with the status of its kind (errors.ts), including a
 * denial and an unknown path. Who may call what is in the rule table (src/server/auth.ts).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isCaError } from "../../ca/errors.js";
import { principalLabel } from "../../ca/principal.js";
import { AccessDenied } from "../auth.js";
import { principalOf } from "../client.js";
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

function errorHandler(deps: ServerDeps) {
  return async (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const e = error as Error & { statusCode?: number; code?: string };
    if (e instanceof AccessDenied) return fail(reply, "forbidden", denial(e, request));
    if (isCaError(e)) return fail(reply, e.kind, e.message);
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
    addRoutes(app, API_PREFIX, API_ROUTES, (route) => async (request, reply) => send(reply, 200, await route.handler(request, deps)));
  };
}
