/**
 * The two requests fastify refuses before any route, hook or error handler sees them: a path
 * parameter longer than the router allows (MAX_NAME_LENGTH, the longest certname) and a path
 * with a malformed percent-escape. Fastify's own answers are JSON on every surface, echo the
 * whole path back and do not say what the limit is; these say what is wrong and what to do, in
 * the surface's own form (the JSON API's {kind, message}, text elsewhere).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { MAX_NAME_LENGTH } from "../ca/names.js";
import { API_PREFIX } from "./api/index.js";
import { API_STATUS } from "./api/errors.js";
import { PUPPET_CA_PREFIX, PUPPET_VERSION_HEADER } from "./puppet-ca/index.js";
import { respond, TYPE } from "./reply.js";

export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const tooLong = error.code === "FST_ERR_MAX_PARAM_LENGTH";
  const message = tooLong
    ? `A name in the path is longer than ${MAX_NAME_LENGTH} characters, the longest a certname may be; nothing was done.`
    : error.code === "FST_ERR_BAD_URL"
      ? "The path has a malformed percent-escape (a % not followed by two hex digits); write a literal % as %25."
      : error.message;
  const url = request.url ?? "";
  if (url.startsWith(`${API_PREFIX}/`)) {
    const kind = tooLong ? "invalid-name" : "invalid-request";
    void reply.code(API_STATUS[kind]).header("content-type", TYPE.jsonUtf8).send(JSON.stringify({ kind, message }));
    return;
  }
  if (url.startsWith(`${PUPPET_CA_PREFIX}/`)) reply.header("x-puppet-version", PUPPET_VERSION_HEADER);
  void respond(reply, tooLong ? 414 : 400, message, TYPE.textUtf8);
}
