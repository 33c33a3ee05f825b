/**
 * Responses with Puppet Server's exact content types. Fastify normally rewrites a
 * Content-Type (adds "; charset=utf-8", or octet-stream when it cannot parse one such as
 * Puppet's ";charset=UTF-8"), so the type a route chooses is remembered here and put back,
 * byte for byte, by the onSend hook in app.ts.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { HttpError } from "./errors.js";

/** The content types Puppet Server 7.9.5 was observed to send (reference 1.2). */
export const TYPE = {
  text: "text/plain",
  textUtf8: "text/plain;charset=utf-8",
  html: "text/html;charset=utf-8",
  json: "application/json",
  jsonUtf8: "application/json;charset=utf-8",
  pson: "text/pson;charset=UTF-8",
  /** What certificate_status answers when the client accepts anything (curl's default). */
  anyUtf8: "*/*;charset=UTF-8",
  /** certificate_status 404 and DELETE: an empty media type, a Puppet quirk kept for fidelity. */
  emptyUtf8: ";charset=UTF-8",
} as const;

const chosen = new WeakMap<FastifyReply, string | null>();

/**
 * Sends `body` with exactly `contentType` (null: no Content-Type header, as Puppet's 403).
 * An undefined body sends nothing (204, or 200 with Content-Length 0).
 */
export function respond(reply: FastifyReply, status: number, body: string | undefined, contentType: string | null): FastifyReply {
  chosen.set(reply, contentType);
  reply.code(status);
  if (contentType !== null) reply.header("content-type", contentType);
  return reply.send(body === undefined ? undefined : Buffer.from(body, "utf8"));
}

/** onSend: restores the content type a route chose. */
export function restoreContentType(reply: FastifyReply): void {
  if (!chosen.has(reply)) return;
  const type = chosen.get(reply);
  if (type === null || type === undefined) reply.removeHeader("content-type");
  else reply.header("content-type", type);
}

/** Puppet's router answers names outside [A-Za-z0-9._-] (and empty ones) with an HTML 404. */
export const ROUTER_NAME = /^[A-Za-z0-9._-]+$/;

export function routerNotFound(reply: FastifyReply): FastifyReply {
  return respond(reply, 404, "Not Found", TYPE.html);
}

/** certificate_status(es) content negotiation as Puppet does it: JSON body, type echoing the Accept header. */
export function statusJsonType(request: FastifyRequest): string {
  const accept = String(request.headers.accept ?? "").toLowerCase();
  if (accept.includes("application/json")) return TYPE.jsonUtf8;
  if (accept.includes("pson")) return TYPE.pson;
  return TYPE.anyUtf8;
}

/** Parses a JSON request body; anything else is Puppet's 400 "Request body is not JSON." in `contentType`. */
export function jsonBody(body: unknown, contentType: string = TYPE.textUtf8): unknown {
  if (typeof body === "string" && body.trim() !== "") {
    try {
      return JSON.parse(body);
    } catch {
      // fall through to the one message
    }
  }
  throw new HttpError(400, "Request body is not JSON.", contentType);
}
