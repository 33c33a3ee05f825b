/**
 * The JSON API under /api/v1, for the console and scripts; each route with its rule
 * (src/server/auth.ts). A handler returns the body of a 200; errors are thrown and rendered
 * as {"kind", "message"} by the surface (index.ts).
 */
import type { FastifyRequest } from "fastify";
import { caSummary, certificateBySerial, certificateByName, listEntries } from "../../ca/queries.js";
import type { ServerDeps } from "../deps.js";
import { nameParam } from "../deps.js";
import type { RouteSpec } from "../routing.js";
import { actionParam, expiryParam, limitParam, offsetParam, queryOf, searchParam, serialParam, sinceParam, stateParam } from "./params.js";
import { certificateJson, listedJson, pageJson, serialJson, summaryJson } from "./render.js";

export interface ApiRoute extends RouteSpec {
  readonly handler: (request: FastifyRequest, deps: ServerDeps) => Promise<unknown>;
}

const now = (deps: ServerDeps): Date => deps.now?.() ?? new Date();

const LIST_PARAMS = ["search", "offset", "limit"] as const;

/* prettier-ignore */
export const API_ROUTES: readonly ApiRoute[] = [
  // GET /api/v1/ca: the CA's certificate, CRL and counts.
  { method: "GET", url: "/ca", rule: "api read", async handler(request, { ca }) {
    queryOf(request, []);
    return summaryJson(await caSummary(ca));
  } },

  // GET /api/v1/requests?search=&offset=&limit=: pending requests, in name order.
  { method: "GET", url: "/requests", rule: "api read", async handler(request, { ca }) {
    const q = queryOf(request, ["state", ...LIST_PARAMS]);
    stateParam(q, ["requested"], "certificates are at /api/v1/certificates");
    const page = await listEntries(ca, { states: ["requested"], search: searchParam(q), offset: offsetParam(q), limit: limitParam(q) });
    return pageJson(page, listedJson);
  } },

  // GET /api/v1/certificates?state=signed|revoked&search=&expires_before=|expires_within=&offset=&limit=
  { method: "GET", url: "/certificates", rule: "api read", async handler(request, deps) {
    const q = queryOf(request, ["state", "expires_before", "expires_within", ...LIST_PARAMS]);
    const state = stateParam(q, ["signed", "revoked"], "pending requests are at /api/v1/requests");
    const page = await listEntries(deps.ca, {
      states: state ? [state] : ["signed", "revoked"], search: searchParam(q), expiresBefore: expiryParam(q, now(deps)),
      offset: offsetParam(q), limit: limitParam(q),
    });
    return pageJson(page, listedJson);
  } },

  // GET /api/v1/certificates/NAME: the certificate the CA holds for a name, PEM included.
  { method: "GET", url: "/certificates/:name", rule: "api read", async handler(request, { ca }) {
    queryOf(request, []);
    return certificateJson(await certificateByName(ca, nameParam(request)));
  } },

  // GET /api/v1/serials/HEX: the certificate with a serial, current or replaced, and its revocation.
  { method: "GET", url: "/serials/:serial", rule: "api read", async handler(request, { ca }) {
    queryOf(request, []);
    return serialJson(await certificateBySerial(ca, serialParam((request.params as { serial: string }).serial)));
  } },

  // GET /api/v1/audit?since=30d|ISO&name=&action=&limit=: the most recent records, oldest first.
  { method: "GET", url: "/audit", rule: "api read", async handler(request, deps) {
    const q = queryOf(request, ["since", "name", "action", "limit"]);
    const since = q.has("since") ? sinceParam(q.get("since")!, now(deps)) : undefined;
    const limit = limitParam(q);
    const name = q.get("name") || undefined;
    const items = await deps.ca.auditLog({ since, name, action: actionParam(q), limit });
    return { limit, items };
  } },
];
