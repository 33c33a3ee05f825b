/**
 * Puppet's CA API under /puppet-ca/v1, as Puppet's agents and `puppetserver ca` expect it:
 * bodies read as text whatever their Content-Type, Puppet's content types byte for byte,
 * X-Puppet-Version on every answer, and Puppet's error rendering (text, with each route's
 * own 404 wording, declared on the route).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isCaError } from "../../ca/errors.js";
import { StoreUnavailableError } from "../../ca/store.js";
import { AccessDenied } from "../auth.js";
import { nameParam, type ServerDeps } from "../deps.js";
import { HttpError, STATUS_BY_KIND, storeUnavailable } from "../errors.js";
import { markRefused, SubmissionLimiter } from "../flood.js";
import { respond, ROUTER_NAME, routerNotFound, TYPE } from "../reply.js";
import { addRoutes, specOf } from "../routing.js";
import type { PuppetRoute } from "./route.js";
import { PUPPET_CA_ROUTES } from "./routes/index.js";

export const PUPPET_CA_PREFIX = "/puppet-ca/v1";

/** Puppet Server reports the Puppet version it bundles; agents read it. We answer as the 7.x line we match. */
export const PUPPET_VERSION_HEADER = "7.23.0";

/** Bodies of the JSON endpoints are a few hundred bytes; this bounds what any request can make us buffer. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * Puppet's rendering of an error: the 403 of a denial (no Content-Type), a route's own 404,
 * a CaError's message with the status of its kind, fastify's 4xx, else a 500 (logged).
 */
export function puppetErrorHandler(deps: ServerDeps) {
  return async (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const e = error as Error & { statusCode?: number; code?: string };
    if (e instanceof AccessDenied) return respond(reply, 403, e.message, null);
    if (e instanceof HttpError) return respond(reply, e.status, e.message, e.contentType);
    if (e instanceof StoreUnavailableError) return respond(reply, 503, storeUnavailable(e, deps.log, request.url.split("?")[0] ?? "/", reply), TYPE.textUtf8);
    const route = specOf<PuppetRoute>(request);
    if (isCaError(e)) {
      if ((e.kind === "not-found" || e.kind === "invalid-name") && route?.notFound) {
        return respond(reply, 404, route.notFound.body(nameParam(request)), route.notFound.type);
      }
      return respond(reply, route?.statusOf?.[e.kind] ?? STATUS_BY_KIND[e.kind], e.message, TYPE.textUtf8);
    }
    if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      const limit = request.routeOptions.bodyLimit ?? DEFAULT_BODY_LIMIT;
      return respond(reply, 413, route?.tooLarge?.(limit) ?? `The request body is larger than ${limit} bytes.`, TYPE.textUtf8);
    }
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) return respond(reply, e.statusCode, e.message, TYPE.textUtf8);
    deps.log.error({ err: e, path: request.url.split("?")[0] }, "unexpected failure while answering a request");
    return respond(reply, 500, "Internal Server Error: see the fleetca server log for details.", TYPE.textUtf8);
  };
}

/** Reads every body as text, as Puppet does (a CSR arrives as text/plain, application/json or form data). */
export function textBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));
}

export function puppetCaPlugin(deps: ServerDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    textBodies(app);
    app.addHook("onSend", async (_request, reply, payload) => {
      reply.header("x-puppet-version", PUPPET_VERSION_HEADER);
      return payload;
    });
    // Flood protection (flood.ts): submissions are counted before their body is read.
    const limiter = new SubmissionLimiter({
      settings: () => deps.settings,
      log: deps.log,
      countPending: async () => (await deps.ca.entries("requested")).length,
    });
    app.addHook("onClose", async () => limiter.stop());
    app.addHook("onRequest", async (request, reply) => {
      const submission = specOf<PuppetRoute>(request)?.submission;
      if (!submission) return;
      const refusal = await limiter.admit(request.ip, submission === "request");
      if (!refusal) return;
      markRefused(request);
      reply.header("retry-after", String(refusal.retryAfter));
      return respond(reply, refusal.status, refusal.message, TYPE.textUtf8);
    });
    // Before the routes and the 404 handler: they take the error handler in force when added.
    app.setErrorHandler(puppetErrorHandler(deps));
    // Puppet's router answers unknown paths (that its auth rules let through) with an HTML 404.
    app.setNotFoundHandler(async (_request, reply) => routerNotFound(reply));
    addRoutes(
      app,
      PUPPET_CA_PREFIX,
      PUPPET_CA_ROUTES,
      (route) => async (request, reply) => {
        if (route.named && !ROUTER_NAME.test(nameParam(request))) return routerNotFound(reply);
        return route.handler(request, reply, deps);
      },
      (route) => route.bodyLimit?.(deps.settings),
    );
  };
}
