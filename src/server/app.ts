/**
 * The HTTP application, built without listening (tests call `inject`). Per request:
 * identify the client certificate -> authorize by the rule table -> route -> handler ->
 * one log line. listen.ts puts it behind TLS.
 */
import { MAX_NAME_LENGTH } from "../ca/names.js";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from "fastify";
import { isCaError } from "../ca/errors.js";
import { authPath, authorize, forbiddenBody, rulesFor } from "./auth.js";
import { identify, tlsPeer } from "./client.js";
import { clientOf, setClient, type Endpoint, type ServerDeps } from "./deps.js";
import { HttpError, STATUS_BY_KIND } from "./errors.js";
import { respond, restoreContentType, routerNotFound, TYPE } from "./reply.js";
import { ENDPOINTS } from "./routes/index.js";

/** Puppet Server reports the Puppet version it bundles; agents read it. We answer as the 7.x line we match. */
export const PUPPET_VERSION_HEADER = "7.23.0";

/** Bodies of the JSON endpoints are a few hundred bytes; this bounds what any request can make us buffer. */
const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface AppOptions {
  /** Creates the listening server (listen.ts passes an HTTPS one). Default: plain HTTP, for inject. */
  serverFactory?: FastifyServerFactory;
}

const noSchemas = () => () => {
  throw new Error("fleetca routes declare no schemas: parse and check bodies in the handler");
};

const pathOf = (request: FastifyRequest): string => request.url.split("?")[0] ?? "/";

export function buildApp(deps: ServerDeps, opts: AppOptions = {}): FastifyInstance {
  const app = Fastify({
    serverFactory: opts.serverFactory,
    logger: false,
    bodyLimit: DEFAULT_BODY_LIMIT,
    // On SIGTERM: stop accepting, close idle keep-alive sockets, let requests in flight finish.
    forceCloseConnections: "idle",
    return503OnClosing: true,
    // Certnames may be up to 253 characters (ca/names.ts); fastify's default stops at 100.
    routerOptions: { maxParamLength: MAX_NAME_LENGTH },
    // No route declares a JSON schema; without this, fastify loads ajv and fast-json-stringify
    // (about 170 ms of startup) for nothing.
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
  });
  const peer = deps.peer ?? tlsPeer;
  const byUrl = new Map<string, Endpoint>();

  // Puppet reads every body as text whatever its Content-Type (a CSR arrives as text/plain,
  // application/json or form data); handlers parse JSON themselves for Puppet's messages.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));

  app.addHook("onRequest", async (request, reply) => {
    const client = await identify(request, peer, deps.ca, deps.settings);
    if (client) setClient(request, client);
    const path = pathOf(request);
    const caller = { authenticated: client?.authenticated ?? false, admin: client?.admin ?? false };
    const { rule, allowed } = authorize(rulesFor(deps.settings), request.method, authPath(request.url), caller);
    if (allowed) return;
    const revoked = client?.revoked ? " (client certificate revoked)" : "";
    deps.log.warn(
      { rule: rule.name, client: client?.certname ?? "-" },
      `Forbidden request: ${request.ip} access to ${path} (method :${request.method.toLowerCase()}) (authenticated: ${caller.authenticated})${revoked} denied by rule '${rule.name}'.`,
    );
    // Returning the reply tells fastify the request is answered: no handler runs.
    return respond(reply, 403, forbiddenBody(request.method, path), null);
  });

  app.addHook("onSend", async (request, reply, payload) => {
    restoreContentType(reply);
    if (request.url.startsWith("/puppet-ca/")) reply.header("x-puppet-version", PUPPET_VERSION_HEADER);
    return payload;
  });

  app.addHook("onResponse", async (request, reply) => {
    const client = clientOf(request);
    deps.log.info({
      msg: "request",
      method: request.method,
      path: pathOf(request),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      client: client?.authenticated ? client.certname : "-",
    });
  });

  app.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof HttpError) return respond(reply, error.status, error.message, error.contentType);
    if (isCaError(error)) return respond(reply, STATUS_BY_KIND[error.kind], error.message, TYPE.textUtf8);
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      const endpoint = byUrl.get(request.routeOptions.url ?? "");
      const limit = request.routeOptions.bodyLimit ?? DEFAULT_BODY_LIMIT;
      return respond(reply, 413, endpoint?.tooLarge?.(limit) ?? `The request body is larger than ${limit} bytes.`, TYPE.textUtf8);
    }
    if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
      return respond(reply, error.statusCode, error.message, TYPE.textUtf8);
    }
    deps.log.error({ err: error, path: pathOf(request) }, "unexpected failure while answering a request");
    return respond(reply, 500, "Internal Server Error: see the fleetca server log for details.", TYPE.textUtf8);
  });

  // Puppet's router answers unknown paths (that its auth rules let through) with an HTML 404.
  app.setNotFoundHandler(async (_request, reply) => routerNotFound(reply));

  for (const endpoint of ENDPOINTS) {
    byUrl.set(endpoint.url, endpoint);
    for (const [method, handler] of Object.entries(endpoint.methods)) {
      app.route({
        method,
        url: endpoint.url,
        bodyLimit: endpoint.bodyLimit?.(deps.settings),
        handler: (request, reply) => handler(request, reply, deps),
      });
    }
  }
  return app;
}
