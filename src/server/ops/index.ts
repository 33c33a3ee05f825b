/**
 * The operational endpoints: Puppet's status service (/status/v1/simple for load balancers,
 * /status/v1/services for monitoring), and the place /healthz and /metrics will join. These
 * paths do not share one prefix, so the surface is registered without one; it is still its own
 * encapsulated context (no body parsers: every route is a GET; Puppet's text errors), and its
 * unknown paths fall to the root's "deny all", as Puppet Server answers them.
 *
 * The answers are trapperkeeper-status's (status_core.clj), as Puppet Server 7.9.5 serves
 * them for its CA service (reference transcript 01-http-nonexistent): `level` (critical,
 * info, debug; default info) is echoed as `detail_level`, the CA service reports `status: {}`
 * at every level (Puppet's ca service does the same); `service_status_version` 1 is the only
 * one; `timeout` must be a positive integer (nothing here takes long enough to use it). Bad
 * parameters are 400 with trapperkeeper's `{"kind": "data-invalid", "msg": ...}`.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerDeps } from "../deps.js";
import { respond, TYPE } from "../reply.js";
import { addRoutes, type RouteSpec } from "../routing.js";
import { puppetErrorHandler } from "../puppet-ca/index.js";
import type { Handler } from "../puppet-ca/route.js";
import { readiness, readinessText } from "./health.js";
import { ServerMetrics } from "./metrics.js";

/** The Puppet Server release whose CA service fleetca answers as (reference: 7.9.5). */
export const SERVICE_VERSION = "7.9.5";

/** The one service fleetca runs, by its trapperkeeper name. */
const SERVICE = "ca";

export const STATUS_LEVELS = ["critical", "info", "debug"] as const;
type Level = (typeof STATUS_LEVELS)[number];

interface OpsRoute extends RouteSpec {
  readonly handler: Handler;
}

/** The trapperkeeper status object of the CA service, in Puppet's key order. */
const caService = (level: Level) => ({
  service_version: SERVICE_VERSION,
  service_status_version: 1,
  detail_level: level,
  state: "running",
  status: {},
  active_alerts: [],
});

/** A 400 of the status service: JSON on /services, the message alone on /simple. */
class StatusParamError extends Error {
  constructor(
    readonly kind: "data-invalid" | "service-status-version-not-found",
    message: string,
  ) {
    super(message);
  }
}

function param(request: FastifyRequest, name: string): string | undefined {
  const v = (request.query as Record<string, unknown> | undefined)?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : String(first);
}

/** Clojure prints a keyword with its colon: `Invalid level: :bogus`. */
function levelOf(request: FastifyRequest): Level {
  const raw = param(request, "level");
  if (raw === undefined) return "info";
  if ((STATUS_LEVELS as readonly string[]).includes(raw)) return raw as Level;
  throw new StatusParamError("data-invalid", `Invalid level: :${raw}`);
}

/** `timeout` (seconds) is checked as Puppet checks it; every answer here is immediate. */
function checkTimeout(request: FastifyRequest): void {
  const raw = param(request, "timeout");
  if (raw === undefined) return;
  if (!/^[+-]?\d+$/.test(raw.trim())) throw new StatusParamError("data-invalid", `Invalid timeout. Should be an integer but was ${raw}`);
  const n = Number(raw);
  if (n <= 0) throw new StatusParamError("data-invalid", `Invalid timeout. Timeout must be greater than zero but was ${n}`);
}

function checkStatusVersion(request: FastifyRequest, service: string): void {
  const raw = param(request, "service_status_version");
  if (raw === undefined) return;
  if (!/^[+-]?\d+$/.test(raw.trim())) throw new StatusParamError("data-invalid", `Invalid service_status_version. Should be an integer but was ${raw}`);
  if (Number(raw) !== 1) throw new StatusParamError("service-status-version-not-found", `No status function with version ${Number(raw)} found for service ${service}`);
}

const json = (body: unknown) => JSON.stringify(body);

export const OPS_ROUTES: readonly OpsRoute[] = [
  {
    method: "GET",
    url: "/status/v1/simple",
    rule: "status",
    async handler(request, reply) {
      checkTimeout(request);
      return respond(reply, 200, "running", TYPE.textUtf8);
    },
  },
  {
    method: "GET",
    // `puppetserver ca` asks /status/v1/simple/ca whether the server is up before offline actions.
    url: "/status/v1/simple/:service",
    rule: "status",
    async handler(request, reply) {
      const service = (request.params as { service?: string }).service ?? "";
      if (service !== SERVICE) return respond(reply, 404, `not found: ${service}`, TYPE.textUtf8);
      checkTimeout(request);
      return respond(reply, 200, "running", TYPE.textUtf8);
    },
  },
  {
    method: "GET",
    url: "/status/v1/services",
    rule: "status services",
    async handler(request, reply) {
      const level = levelOf(request);
      checkTimeout(request);
      return respond(reply, 200, json({ [SERVICE]: caService(level) }), TYPE.jsonUtf8);
    },
  },
  {
    method: "GET",
    url: "/status/v1/services/:service",
    rule: "status services",
    async handler(request, reply) {
      const service = (request.params as { service?: string }).service ?? "";
      if (service !== SERVICE) return respond(reply, 404, json({ kind: "service-not-found", msg: `No status information found for service ${service}` }), TYPE.jsonUtf8);
      const level = levelOf(request);
      checkStatusVersion(request, service);
      checkTimeout(request);
      return respond(reply, 200, json({ ...caService(level), service_name: service }), TYPE.jsonUtf8);
    },
  },
  {
    method: "GET",
    url: "/healthz",
    rule: "health",
    async handler(_request, reply) {
      return respond(reply, 200, "ok\n", TYPE.textUtf8);
    },
  },
  {
    method: "GET",
    url: "/readyz",
    rule: "readiness",
    async handler(_request, reply, deps) {
      const checks = await readiness(deps.ca, deps.now?.());
      return respond(reply, checks.every((c) => c.ok) ? 200 : 503, readinessText(checks), TYPE.textUtf8);
    },
  },
  {
    method: "GET",
    url: "/metrics",
    rule: "metrics",
    async handler(_request, reply, deps) {
      const { body, contentType } = await metricsOf(deps).scrape();
      return respond(reply, 200, body, contentType);
    },
  },
];

/** The app's metrics: the ones the server was given, or HTTP and gauges only (tests, tools). */
export function metricsOf(deps: ServerDeps): ServerMetrics {
  deps.metrics ??= new ServerMetrics({ processMetrics: false });
  if (!deps.metrics.attached) deps.metrics.attach({ ca: () => deps.ca, now: deps.now && (() => deps.now!().getTime()) });
  return deps.metrics;
}

export function opsPlugin(deps: ServerDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.removeAllContentTypeParsers();
    const puppet = puppetErrorHandler(deps);
    app.setErrorHandler(async (error: Error, request, reply) => {
      if (!(error instanceof StatusParamError)) return puppet(error, request, reply);
      if (request.url.startsWith("/status/v1/simple")) return respond(reply, 400, error.message, TYPE.textUtf8);
      return respond(reply, 400, json({ kind: error.kind, msg: error.message }), TYPE.jsonUtf8);
    });
    addRoutes(app, "", OPS_ROUTES, (route) => (request, reply) => route.handler(request, reply, deps));
  };
}
