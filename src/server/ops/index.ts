/**
 * The operational endpoints: Puppet's status service (/status/v1/simple for load balancers,
 * /status/v1/services for monitoring), and the place /healthz and /metrics will join. These
 * paths do not share one prefix, so the surface is registered without one; it is still its own
 * encapsulated context (no body parsers: every route is a GET; Puppet's text errors), and its
 * unknown paths fall to the root's "deny all", as Puppet Server answers them.
 */
import type { FastifyInstance } from "fastify";
import type { ServerDeps } from "../deps.js";
import { respond, TYPE } from "../reply.js";
import { addRoutes, type RouteSpec } from "../routing.js";
import { puppetErrorHandler } from "../puppet-ca/index.js";
import type { Handler } from "../puppet-ca/route.js";

/** The Puppet Server release whose CA service fleetca answers as (reference: 7.9.5). */
export const SERVICE_VERSION = "7.9.5";

interface OpsRoute extends RouteSpec {
  readonly handler: Handler;
}

/** The trapperkeeper status object of the CA service, in Puppet's key order. */
const caService = () => ({
  service_version: SERVICE_VERSION,
  service_status_version: 1,
  detail_level: "info",
  state: "running",
  status: {},
  active_alerts: [],
  service_name: "ca",
});

export const OPS_ROUTES: readonly OpsRoute[] = [
  {
    method: "GET",
    url: "/status/v1/simple",
    rule: "status",
    async handler(_request, reply) {
      return respond(reply, 200, "running", TYPE.textUtf8);
    },
  },
  {
    method: "GET",
    url: "/status/v1/services",
    rule: "status services",
    async handler(_request, reply) {
      return respond(reply, 200, JSON.stringify({ ca: caService() }), TYPE.jsonUtf8);
    },
  },
  {
    method: "GET",
    url: "/status/v1/services/:service",
    rule: "status services",
    async handler(request, reply) {
      const service = (request.params as { service?: string }).service ?? "";
      if (service === "ca") return respond(reply, 200, JSON.stringify(caService()), TYPE.jsonUtf8);
      const body = { kind: "service-not-found", msg: `No status information found for service ${service}` };
      return respond(reply, 404, JSON.stringify(body), TYPE.jsonUtf8);
    },
  },
];

export function opsPlugin(deps: ServerDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.removeAllContentTypeParsers();
    app.setErrorHandler(puppetErrorHandler(deps));
    addRoutes(app, "", OPS_ROUTES, (route) => (request, reply) => route.handler(request, reply, deps));
  };
}
