/**
 * /puppet-ca/v1/certificate_status/NAME (admin)
 *   GET     the status object, JSON (content type echoes Accept, as Puppet does)
 *   PUT     {"desired_state": "signed" | "revoked", "cert_ttl"?: seconds}
 *   DELETE  remove the certificate and/or request files without revoking (Puppet's semantics)
 */
import type { FastifyRequest } from "fastify";
import { principalOf } from "../../client.js";
import { nameParam } from "../../deps.js";
import { HttpError } from "../../errors.js";
import { jsonBody, respond, statusJsonType, TYPE } from "../../reply.js";
import type { PuppetRoute } from "../route.js";
import { statusJson } from "../status-json.js";

/** Puppet's 404 for GET and DELETE: an empty media type. */
const resourceNotFound = { body: () => "Resource not found.", type: TYPE.emptyUtf8 };

interface Change {
  state: "signed" | "revoked";
  ttl?: number;
}

/** Validates the body in Puppet's order, with its messages. */
function parseChange(request: FastifyRequest, name: string): Change {
  const mediaType = String(request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType !== "application/json" && mediaType !== "text/pson") throw new HttpError(415, "Unsupported media type.");
  const body = jsonBody(request.body);
  if (typeof body !== "object" || body === null || Array.isArray(body) || !("desired_state" in body)) {
    throw new HttpError(400, 'Missing required parameter "desired_state"');
  }
  const { desired_state: state, cert_ttl: ttl } = body as { desired_state: unknown; cert_ttl?: unknown };
  if (state !== "signed" && state !== "revoked") {
    throw new HttpError(400, `State ${String(state)} invalid; Must specify desired state of 'signed' or 'revoked' for host ${name}.`);
  }
  if (ttl !== undefined && !(typeof ttl === "number" && Number.isSafeInteger(ttl) && ttl > 0)) {
    throw new HttpError(400, `cert_ttl specified for host ${name} must be an integer, not ${JSON.stringify(ttl)}`);
  }
  return { state, ttl };
}

export const certificateStatus: readonly PuppetRoute[] = [
  {
    method: "GET",
    url: "/certificate_status/:name",
    rule: "cert status",
    named: true,
    notFound: resourceNotFound,
    async handler(request, reply, { ca }) {
      return respond(reply, 200, statusJson(await ca.status(nameParam(request))), statusJsonType(request));
    },
  },
  {
    method: "PUT",
    url: "/certificate_status/:name",
    rule: "cert status",
    named: true,
    // Neither a request nor a certificate: Puppet's wording for an unknown subject.
    notFound: { body: () => "Invalid certificate subject.", type: TYPE.textUtf8 },
    async handler(request, reply, { ca }) {
      const name = nameParam(request);
      const change = parseChange(request, name);
      const by = principalOf(request);
      if (change.state === "signed") {
        await ca.sign(name, { by, ttlSeconds: change.ttl });
      } else {
        const [result] = await ca.revoke([name], by);
        if (result?.error) throw result.error;
      }
      reply.header("vary", "Accept");
      return respond(reply, 204, undefined, TYPE.text);
    },
  },
  {
    method: "DELETE",
    url: "/certificate_status/:name",
    rule: "cert status",
    named: true,
    notFound: resourceNotFound,
    async handler(request, reply, { ca }) {
      await ca.deleteStatus(nameParam(request), principalOf(request));
      return respond(reply, 204, undefined, TYPE.emptyUtf8);
    },
  },
];
