/**
 * PUT /puppet-ca/v1/clean {"certnames": [...]} (admin): revoke, then delete each signed
 * certificate. As in Puppet, a name with only a pending request counts as missing and its
 * request stays; the others are still cleaned.
 */
import { principalOf } from "../../client.js";
import { HttpError } from "../../errors.js";
import { jsonBody, respond, TYPE } from "../../reply.js";
import type { PuppetRoute } from "../route.js";

export const clean: readonly PuppetRoute[] = [
  {
    method: "PUT",
    url: "/clean",
    rule: "cert clean",
    async handler(request, reply, { ca }) {
      // Puppet answers every clean error with a plain "text/plain".
      const body = jsonBody(request.body, TYPE.text) as { certnames?: unknown; async?: unknown } | null;
      const names = body?.certnames;
      if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) {
        throw new HttpError(400, "Missing required key: 'certnames'. Please supply the list of certs you want to clean.", TYPE.text);
      }
      if (body?.async === true) throw new HttpError(400, "Async mode is not currently supported.", TYPE.text);
      const results = await ca.clean(names as string[], principalOf(request), false);
      const missing = results.filter((r) => r.error).map((r) => r.name);
      const message =
        missing.length === 0 ? "Successfully cleaned all certs." : `The following certs do not exist and cannot be revoked: ${JSON.stringify(missing)}`;
      return respond(reply, 200, message, TYPE.text);
    },
  },
];
