/**
 * The JSON API under /api/v1, for the console and scripts; each route with its rule
 * (src/server/auth.ts). A handler returns the body of a 200; errors are thrown and rendered
 * as {"kind", "message"} by the surface (index.ts).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { certificateView, pendingPage, SORT_KEYS, sortedPage, type SortKey } from "../../ca/console/views.js";
import { CaError } from "../../ca/errors.js";
import { caSummary, certificateBySerial, certificateByName } from "../../ca/queries.js";
import { parseReason, type RevocationReason } from "../../ca/revocation.js";
import { principalOf } from "../client.js";
import type { ServerDeps } from "../deps.js";
import { nameParam } from "../deps.js";
import type { RouteSpec } from "../routing.js";
import { actionParam, expiryParam, limitParam, offsetParam, queryOf, searchParam, serialParam, sinceParam, stateParam } from "./params.js";
import { CONSOLE_ROUTES } from "./console-routes.js";
import { REGENERATION_ROUTES } from "./regeneration-routes.js";
import { certificateViewJson, listedJson, pageJson, pendingJson, revocationJson, serialJson, summaryJson } from "./render.js";

export interface ApiRoute extends RouteSpec {
  readonly handler: (request: FastifyRequest, deps: ServerDeps, reply: FastifyReply) => Promise<unknown>;
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

  // GET /api/v1/requests?search=&offset=&limit=: pending requests, in name order, with their
  // requested extensions by short name, what signing would grant, and when they arrived.
  { method: "GET", url: "/requests", rule: "api read", async handler(request, { ca }) {
    const q = queryOf(request, ["state", ...LIST_PARAMS]);
    stateParam(q, ["requested"], "certificates are at /api/v1/certificates");
    const page = await pendingPage(ca, { search: searchParam(q), offset: offsetParam(q), limit: limitParam(q) });
    return pageJson(page, pendingJson);
  } },

  // GET /api/v1/certificates?state=signed|revoked&search=&expires_before=|expires_within=
  //   &sort=name|notAfter|state|serial&order=asc|desc&offset=&limit=
  { method: "GET", url: "/certificates", rule: "api read", async handler(request, deps) {
    const q = queryOf(request, ["state", "expires_before", "expires_within", "sort", "order", ...LIST_PARAMS]);
    const state = stateParam(q, ["signed", "revoked"], "pending requests are at /api/v1/requests");
    const page = await sortedPage(deps.ca, {
      states: state ? [state] : ["signed", "revoked"], search: searchParam(q), expiresBefore: expiryParam(q, now(deps)),
      offset: offsetParam(q), limit: limitParam(q),
    }, sortParam(q), orderParam(q));
    return pageJson(page, listedJson);
  } },

  // GET /api/v1/certificates/NAME: the certificate the CA holds for a name, PEM included, every
  // field (subject, issuer, validity, fingerprints, extensions by name) and its audit history.
  { method: "GET", url: "/certificates/:name", rule: "api read", async handler(request, { ca }) {
    queryOf(request, []);
    return certificateViewJson(await certificateView(ca, nameParam(request)));
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

  // POST /api/v1/revocations {"serial": "1F" | "name": "web1.example.com", "reason"?: "superseded", "force"?: true}:
  // revokes one certificate and answers its revocation record (the first one, if it was revoked already).
  { method: "POST", url: "/revocations", rule: "api revoke", async handler(request, { ca }) {
    queryOf(request, []);
    const body = revocationBody(request.body);
    const by = principalOf(request);
    if (body.serial !== undefined) {
      const [result] = await ca.revokeBySerial([serialParam(body.serial)], by, body.reason, { force: body.force });
      if (result!.error) throw result!.error;
      return revocationJson(result!.record!);
    }
    const [result] = await ca.revoke([body.name!], by, body.reason);
    if (result!.error) throw result!.error;
    const revocation = (await certificateByName(ca, body.name!)).revocation;
    if (!revocation) throw new CaError("conflict", `The certificate of ${body.name} was replaced while it was being revoked; revoke again.`);
    return revocationJson(revocation);
  } },

  ...CONSOLE_ROUTES,
  ...REGENERATION_ROUTES,
];

function sortParam(q: Map<string, string>): SortKey {
  const text = q.get("sort") ?? "name";
  if ((SORT_KEYS as readonly string[]).includes(text)) return text as SortKey;
  throw new CaError("invalid-request", `sort must be one of ${SORT_KEYS.join(", ")}, not ${JSON.stringify(text)}.`);
}

function orderParam(q: Map<string, string>): boolean {
  const text = q.get("order") ?? "asc";
  if (text !== "asc" && text !== "desc") throw new CaError("invalid-request", `order must be asc or desc, not ${JSON.stringify(text)}.`);
  return text === "desc";
}

const REVOCATION_KEYS = ["serial", "name", "reason", "force"];

/** The body of POST /revocations: exactly one of serial (hex) and name, an optional reason and force. */
function revocationBody(raw: unknown): { serial?: string; name?: string; reason?: RevocationReason; force: boolean } {
  const invalid = (message: string) => new CaError("invalid-request", message);
  const shape = 'Send {"serial": "1F"} or {"name": "web1.example.com"}, with an optional "reason" (RFC 5280 name, default keyCompromise) and, for a serial this CA has no record of, "force": true.';
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid(`The body must be a JSON object. ${shape}`);
  const b = raw as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !REVOCATION_KEYS.includes(k));
  if (unknown.length > 0) throw invalid(`Unknown field ${JSON.stringify(unknown[0])}. ${shape}`);
  if ((b.serial === undefined) === (b.name === undefined)) throw invalid(`Give exactly one of "serial" and "name". ${shape}`);
  if (b.serial !== undefined && typeof b.serial !== "string") throw invalid(`"serial" is a string of hexadecimal digits. ${shape}`);
  if (b.name !== undefined && typeof b.name !== "string") throw invalid(`"name" is a certname string. ${shape}`);
  if (b.reason !== undefined && typeof b.reason !== "string") throw invalid(`"reason" is a string. ${shape}`);
  if (b.force !== undefined && typeof b.force !== "boolean") throw invalid(`"force" is true or false. ${shape}`);
  if (b.force === true && b.name !== undefined) throw invalid(`"force" applies to "serial" only. ${shape}`);
  return {
    serial: b.serial as string | undefined,
    name: b.name as string | undefined,
    reason: b.reason === undefined ? undefined : parseReason(b.reason as string),
    force: b.force === true,
  };
}
