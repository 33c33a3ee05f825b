/**
 * GET /puppet-ca/v1/certificate_statuses/KEY?state=requested|signed|revoked (admin).
 * The key is required and ignored, as in Puppet; an unknown state value lists everything.
 * fleetca lists in name order from its index (Puppet: directory order), and without the
 * SHA1/SHA512 fingerprints, which would mean reading every file.
 */
import type { CertState } from "../../../ca/status.js";
import { respond, statusJsonType, TYPE } from "../../reply.js";
import type { Handler, PuppetRoute } from "../route.js";
import { statusesJson } from "../status-json.js";

const STATES: readonly string[] = ["requested", "signed", "revoked"];

const list: Handler = async (request, reply, { ca }) => {
  const key = (request.params as { name?: string }).name ?? "";
  if (key === "") return respond(reply, 400, "Missing URL Segment", TYPE.textUtf8);
  const wanted = (request.query as { state?: unknown }).state;
  const state = typeof wanted === "string" && STATES.includes(wanted) ? (wanted as CertState) : undefined;
  return respond(reply, 200, statusesJson(await ca.statuses(state)), statusJsonType(request));
};

export const certificateStatuses: readonly PuppetRoute[] = [
  { method: "GET", url: "/certificate_statuses/:name", rule: "cert statuses", handler: list },
  // The same path without a key: Puppet's 400.
  { method: "GET", url: "/certificate_statuses/", rule: "cert statuses", handler: list },
];
