/**
 * Re-enrollment tracking in the JSON API (ca/lifecycle/tracking.ts), for the console and
 * scripts: the list of the old CA's nodes still to come back, and dismissing one.
 */
import { CaError } from "../../ca/errors.js";
import { dismissNodes, regenerationStatus } from "../../ca/lifecycle/tracking.js";
import { validateCertname } from "../../ca/names.js";
import { principalOf } from "../client.js";
import type { ApiRoute } from "./routes.js";
import { queryOf } from "./params.js";

/* prettier-ignore */
export const REGENERATION_ROUTES: readonly ApiRoute[] = [
  // GET /api/v1/regeneration: {active, mode, startedAt, oldCaFingerprint, newCaFingerprint, total, reenrolled, remaining, nodes: [{name, lastSeenAt, lastSeenAddress}]}
  { method: "GET", url: "/regeneration", rule: "api read", async handler(request, { ca }) {
    queryOf(request, []);
    return regenerationStatus(ca.store);
  } },

  // POST /api/v1/regeneration/dismiss {"name": "gone.example.com"}: the node will never come back (audited).
  { method: "POST", url: "/regeneration/dismiss", rule: "api regeneration dismiss", async handler(request, deps) {
    queryOf(request, []);
    const body = request.body as { name?: unknown } | undefined;
    const keys = body && typeof body === "object" ? Object.keys(body) : [];
    if (typeof body?.name !== "string" || keys.some((k) => k !== "name")) {
      throw new CaError("invalid-request", 'The body must be {"name": "<certname>"}: the node to take off the re-enrollment list.');
    }
    const name = validateCertname(body.name);
    await dismissNodes(deps.ca.store, [name], deps.now?.() ?? new Date(), principalOf(request));
    return regenerationStatus(deps.ca.store);
  } },
];
