/**
 * The HTTP application, built without listening (tests call `inject`). Three surfaces, each
 * an encapsulated fastify plugin with its own body parsing and error rendering:
 *
 *   /puppet-ca/v1   Puppet's CA API (puppet-ca/)          text, Puppet's content types and messages
 *   /status/v1/...  operational endpoints (ops/)          Puppet's status service; /healthz, /readyz, /metrics
 *   /api/v1         the JSON API (api/)                   JSON in, {"kind", "message"} errors out
 *   /ocsp           the OCSP responder (ocsp/)            DER in, an OCSPResponse out, always HTTP 200
 *
 * Per request, for every surface alike (root hooks reach every plugin): identify the caller
 * (client.ts) -> authorize by the rule table (auth.ts) -> route -> handler -> one log line.
 * A denial is thrown, so each surface renders it its own way. listen.ts puts it behind TLS,
 * where the agents' three GETs are answered beside this app by the same parts when they
 * are a plain success (puppet-ca/fast-gets.ts), and handed to it otherwise.
 */
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerFactory } from "fastify";
import { MAX_NAME_LENGTH } from "../ca/names.js";
import { principalLabel } from "../ca/principal.js";
import { apiPlugin, API_PREFIX } from "./api/index.js";
import { AccessDenied, authorize, authPath, declaredRule, rulesFor, UNRULED } from "./auth.js";
import { identify, identityOf, setIdentity, tlsPeer } from "./client.js";
import { frameworkErrors } from "./framework-errors.js";
import { logRequest } from "./log.js";
import type { ServerDeps } from "./deps.js";
import { wasRefused } from "./flood.js";
import { CONSOLE_PREFIX, consolePlugin } from "./console/index.js";
import { ocspPlugin } from "./ocsp/index.js";
import { metricsOf, opsPlugin } from "./ops/index.js";
import { meterRequests } from "./ops/metrics.js";
import { DEFAULT_BODY_LIMIT, PUPPET_CA_PREFIX, PUPPET_VERSION_HEADER, puppetCaPlugin, puppetErrorHandler, textBodies } from "./puppet-ca/index.js";
import { reasonField, rememberReason } from "./refusal-reason.js";
import { restoreContentType, routerNotFound } from "./reply.js";

export { PUPPET_VERSION_HEADER } from "./puppet-ca/index.js";

export interface AppOptions {
  /** Creates the listening server (listen.ts passes an HTTPS one). Default: plain HTTP, for inject. */
  serverFactory?: FastifyServerFactory;
  /** Registers more on the root instance before it is ready (tests: a route added outside the surfaces). */
  extend?: (app: FastifyInstance) => void;
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
    // A longer name, or a malformed %-escape, is refused before routing: say why (framework-errors.ts).
    frameworkErrors,
    // No route declares a JSON schema; without this, fastify loads ajv and fast-json-stringify
    // (about 170 ms of startup) for nothing.
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
  });
  const peer = deps.peer ?? tlsPeer;

  // Who is calling, and may they: for every request, before any surface sees it.
  app.addHook("onRequest", async (request) => {
    const identity = await identify(request, peer, deps.ca, deps.settings);
    setIdentity(request, identity);
    // A node of a regenerated CA's list: said for every request, whatever the route allows (ca/lifecycle).
    if (identity.principal.refused?.startsWith("issued by the previous CA")) deps.log.warn({ client: request.ip }, `client certificate ${identity.principal.refused}`);
    const path = pathOf(request);
    const params = request.params as { name?: unknown } | undefined;
    const subject = typeof params?.name === "string" ? params.name : undefined;
    const caller = { principal: identity.principal, subject };
    let { rule, allowed } = authorize(rulesFor(deps.settings), request.method, authPath(request.url), caller);
    // A route that reached the router without naming its rule (routing.ts) is refused, whatever its path.
    if (!request.is404 && declaredRule(request) === undefined) ({ rule, allowed } = { rule: UNRULED, allowed: false });
    if (allowed) return;
    const { principal } = identity;
    const refused = principal.refused ? ` (client certificate ${principal.refused})` : "";
    deps.log.warn(
      { rule: rule.name, client: principal.kind === "anonymous" ? "-" : principalLabel(principal) },
      `Forbidden request: ${request.ip} access to ${path} (method :${request.method.toLowerCase()}) (authenticated: ${principal.kind !== "anonymous"})${refused} denied by rule '${rule.name}'.`,
    );
    // Rendered by the error handler of the surface the request reached.
    throw new AccessDenied(rule, request.method, path);
  });

  // Puts back the exact Content-Type a text route chose (reply.ts); nothing to do for the JSON API.
  app.addHook("onSend", async (request, reply, payload) => {
    restoreContentType(reply);
    rememberReason(request, reply, payload);
    return payload;
  });

  meterRequests(app, metricsOf(deps));

  app.addHook("onResponse", async (request, reply) => {
    // Submissions refused by flood protection are reported once a minute per source (flood.ts), not here.
    if (wasRefused(request)) return;
    const { principal } = identityOf(request);
    logRequest(deps.log, {
      method: request.method,
      path: pathOf(request),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      client: principal.kind === "certificate" ? principal.name : "-",
      ...reasonField(request),
    });
  });

  // Outside the surfaces: Puppet's world, where "deny all" answers any path no rule opens.
  textBodies(app);
  app.setErrorHandler(async (error: Error, request, reply) => {
    if (request.url.startsWith("/puppet-ca/")) reply.header("x-puppet-version", PUPPET_VERSION_HEADER);
    return puppetErrorHandler(deps)(error, request, reply);
  });
  app.setNotFoundHandler(async (_request, reply) => routerNotFound(reply));

  app.register(puppetCaPlugin(deps), { prefix: PUPPET_CA_PREFIX });
  app.register(opsPlugin(deps));
  app.register(apiPlugin(deps), { prefix: API_PREFIX });
  app.register(ocspPlugin(deps));
  app.register(consolePlugin(deps), { prefix: CONSOLE_PREFIX });
  opts.extend?.(app);
  return app;
}
