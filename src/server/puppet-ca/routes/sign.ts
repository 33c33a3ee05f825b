/**
 * POST /puppet-ca/v1/sign {"certnames": [...]} and POST /puppet-ca/v1/sign/all (admin), as
 * newer Puppet Servers have them: 200 {"signed": [...], "no-csr": [...], "signing-errors": [...]}.
 * Why a name failed is in the server log (Puppet's shape has no room for it).
 */
import { principalOf } from "../../client.js";
import { HttpError } from "../../errors.js";
import { jsonBody, respond, TYPE } from "../../reply.js";
import type { PuppetRoute } from "../route.js";
import { signReport } from "../sign-report.js";

export const sign: readonly PuppetRoute[] = [
  {
    method: "POST",
    url: "/sign",
    rule: "sign",
    async handler(request, reply, { ca, log }) {
      const body = jsonBody(request.body);
      const names = (body as { certnames?: unknown } | null)?.certnames;
      if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) {
        throw new HttpError(400, "Missing required key: 'certnames'. Please supply the list of certnames you want to sign as an array of strings.");
      }
      const results = await ca.signMany(names as string[], { by: principalOf(request) });
      return respond(reply, 200, JSON.stringify(signReport(results, log)), TYPE.json);
    },
  },
  {
    method: "POST",
    url: "/sign/all",
    rule: "sign all",
    async handler(request, reply, { ca, log }) {
      const results = await ca.signAll({ by: principalOf(request) });
      return respond(reply, 200, JSON.stringify(signReport(results, log)), TYPE.json);
    },
  },
];
