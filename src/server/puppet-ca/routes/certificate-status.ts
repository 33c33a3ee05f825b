/**
 * /puppet-ca/v1/certificate_status/NAME (admin)
 *   GET     the status object, JSON (content type echoes Accept, as Puppet does)
 *   PUT     {"desired_state": "signed" | "revoked", "cert_ttl"?: seconds}
 *   DELETE  remove the certificate and/or request files without revoking (Puppet's semantics)
 */
import { isCaError } from "../../ca/errors.js";
import { actorOf, nameParam, type Endpoint, type Handler } from "../deps.js";
import { HttpError, STATUS_BY_KIND } from "../errors.js";
import { jsonBody, respond, routerNotFound, ROUTER_NAME, statusJsonType, TYPE } from "../reply.js";
import { statusJson } from "../status-json.js";

/** Puppet's 404 for GET and DELETE: an empty media type. */
const notFound = { status: 404, body: "Resource not found.", type: TYPE.emptyUtf8 };

const get: Handler = async (request, reply, { ca }) => {
  const name = nameParam(request);
  if (!ROUTER_NAME.test(name)) return routerNotFound(reply);
  try {
    return respond(reply, 200, statusJson(await ca.status(name)), statusJsonType(request));
  } catch (e) {
    if (isCaError(e) && (e.kind === "not-found" || e.kind === "invalid-name")) return respond(reply, notFound.status, notFound.body, notFound.type);
    throw e;
  }
};

interface Change {
  state: "signed" | "revoked";
  ttl?: number;
}

/** Validates the body in Puppet's order, with its messages. */
function parseChange(request: Parameters<Handler>[0], name: string): Change {
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

const put: Handler = async (request, reply, { ca }) => {
  const name = nameParam(request);
  if (!ROUTER_NAME.test(name)) return routerNotFound(reply);
  const change = parseChange(request, name);
  const actor = actorOf(request);
  try {
    if (change.state === "signed") {
      await ca.sign(name, { actor, ttlSeconds: change.ttl });
    } else {
      const [result] = await ca.revoke([name], actor);
      if (result?.error) throw result.error;
    }
  } catch (e) {
    if (!isCaError(e)) throw e;
    // Neither a request nor a certificate: Puppet's wording for an unknown subject.
    if (e.kind === "not-found" || e.kind === "invalid-name") throw new HttpError(404, "Invalid certificate subject.");
    throw new HttpError(STATUS_BY_KIND[e.kind], e.message);
  }
  reply.header("vary", "Accept");
  return respond(reply, 204, undefined, TYPE.text);
};

const remove: Handler = async (request, reply, { ca }) => {
  const name = nameParam(request);
  if (!ROUTER_NAME.test(name)) return routerNotFound(reply);
  try {
    await ca.deleteStatus(name, actorOf(request));
  } catch (e) {
    if (isCaError(e) && (e.kind === "not-found" || e.kind === "invalid-name")) return respond(reply, notFound.status, notFound.body, notFound.type);
    throw e;
  }
  return respond(reply, 204, undefined, TYPE.emptyUtf8);
};

export const certificateStatus: Endpoint = {
  url: "/puppet-ca/v1/certificate_status/:name",
  methods: { GET: get, PUT: put, DELETE: remove },
};
