/**
 * The OCSP responder (RFC 6960) on the server's port, for anyone (no client certificate):
 *
 *   POST /ocsp                 body: the DER OCSPRequest (application/ocsp-request)
 *   GET  /ocsp/{base64 DER}    the same, URL-encoded base64 (RFC 6960 A.1, RFC 5019 5)
 *
 * Every answer is HTTP 200 with an OCSPResponse (application/ocsp-response), errors
 * included: a request that is not one gets malformedRequest, a CA that cannot sign tryLater,
 * anything unexpected internalError (logged), never a 5xx. A successful GET answer may be
 * cached by HTTP caches until its nextUpdate (RFC 5019 6.2). What the answers say, and the
 * response cache, are the CA's (ca/ocsp.ts); who signs them is signer.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { OcspResponder, type OcspAnswer } from "../../ca/ocsp.js";
import { ocspErrorResponse } from "../../pki/ocsp.js";
import { AccessDenied } from "../auth.js";
import type { ServerDeps } from "../deps.js";
import type { IdentityFiles } from "../identity.js";
import { puppetErrorHandler } from "../puppet-ca/index.js";
import { addRoutes, type RouteSpec } from "../routing.js";
import { caSigner, DelegatedSigner } from "./signer.js";

/** An OCSPRequest for a few certificates is a few hundred bytes; this bounds what one can make us buffer. */
export const OCSP_BODY_LIMIT = 16 * 1024;

const RESPONSE_TYPE = "application/ocsp-response";

export const OCSP_ROUTES: readonly RouteSpec[] = [
  { method: "POST", url: "/ocsp", rule: "ocsp" },
  // The base64 may hold '/' unescaped (clients differ): the wildcard takes the rest of the path.
  { method: "GET", url: "/ocsp/*", rule: "ocsp", example: "/ocsp/MEMwQTA" },
];

/**
 * The responder for a server: signed by a delegated responder certificate kept in `files`
 * when `ocsp_signer` is "delegated", else (or without files: in-process tests) by the CA key.
 */
export function ocspResponderFor(deps: ServerDeps, files?: IdentityFiles): { responder: OcspResponder; delegated?: DelegatedSigner } {
  const delegated = files && deps.settings.ocspSigner === "delegated" ? new DelegatedSigner({ ca: () => deps.ca, settings: () => deps.settings, files, log: deps.log }) : undefined;
  const byCa = caSigner(() => deps.ca);
  const responder = new OcspResponder({
    reader: () => deps.ca,
    // Read per answer, so a reload that switches ocsp_signer to "ca" takes effect (the other way needs files: a restart).
    signer: () => (delegated && deps.settings.ocspSigner === "delegated" ? delegated.current() : byCa()),
    ttlSeconds: () => deps.settings.ocspTtl,
  });
  return { responder, delegated };
}

/** The request's DER from a GET path: everything after /ocsp/, URL-decoded, then base64. */
function fromPath(url: string): Buffer {
  const raw = url.split("?", 1)[0]!.slice("/ocsp/".length);
  let b64: string;
  try {
    b64 = decodeURIComponent(raw);
  } catch {
    return Buffer.alloc(0);
  }
  return /^[A-Za-z0-9+/=_-]*$/.test(b64) ? Buffer.from(b64, "base64") : Buffer.alloc(0);
}

function send(reply: FastifyReply, answer: OcspAnswer, get: boolean, now: number): FastifyReply {
  reply.code(200).header("content-type", RESPONSE_TYPE);
  if (get && answer.status === "successful" && answer.nextUpdate && answer.thisUpdate) {
    const maxAge = Math.max(0, Math.floor((answer.nextUpdate.getTime() - now) / 1000));
    reply
      .header("cache-control", `max-age=${maxAge}, public, no-transform, must-revalidate`)
      .header("last-modified", answer.thisUpdate.toUTCString())
      .header("expires", answer.nextUpdate.toUTCString());
  } else {
    reply.header("cache-control", "no-store");
  }
  return reply.send(answer.der);
}

export function ocspPlugin(deps: ServerDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    const responder = deps.ocsp ?? ocspResponderFor(deps).responder;
    app.removeAllContentTypeParsers();
    // Whatever the Content-Type (clients differ): the body is read as bytes and parsed as DER.
    app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: OCSP_BODY_LIMIT }, (_request, body, done) => done(null, body));
    const denied = puppetErrorHandler(deps);
    app.setErrorHandler(async (error: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply) => {
      // An operator's auth_rules may close the path: Puppet's 403, as elsewhere.
      if (error instanceof AccessDenied) return denied(error, request, reply);
      // A body too large, or one fastify could not read, is still an OCSP question badly put.
      if (error.code?.startsWith("FST_ERR_CTP_") || (error as { statusCode?: number }).statusCode === 400) {
        return send(reply, { der: ocspErrorResponse("malformedRequest"), status: "malformedRequest" }, false, Date.now());
      }
      deps.log.error({ err: error, path: request.url.split("?")[0] }, "unexpected failure while answering an OCSP request");
      return send(reply, { der: ocspErrorResponse("internalError"), status: "internalError" }, false, Date.now());
    });
    addRoutes(app, "", OCSP_ROUTES, (route) => async (request, reply) => {
      const get = route.method === "GET";
      const body = get ? fromPath(request.url) : Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const answer = await responder.respond(body);
      if (answer.status === "internalError") deps.log.error({ err: answer.error }, `OCSP internalError: ${answer.reason ?? "unknown failure"}`);
      else if (answer.status === "tryLater") deps.log.warn({ msg: "ocsp tryLater", reason: answer.reason });
      return send(reply, answer, get, Date.now());
    });
  };
}
