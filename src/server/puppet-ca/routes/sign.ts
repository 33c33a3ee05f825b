/**
 * POST /puppet-ca/v1/sign {"certnames": [...]} (admin), as newer Puppet Servers have it:
 * 200 {"signed": [...], "no-csr": [...], "signing-errors": [...]}. Why a name failed is in
 * the server log (Puppet's shape has no room for it).
 */
import { HttpError } from "../errors.js";
import { actorOf, type Endpoint } from "../deps.js";
import { jsonBody, respond, TYPE } from "../reply.js";
import { signReport } from "../sign-report.js";

export const sign: Endpoint = {
  url: "/puppet-ca/v1/sign",
  methods: {
    async POST(request, reply, { ca, log }) {
      const body = jsonBody(request.body);
      const names = (body as { certnames?: unknown } | null)?.certnames;
      if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) {
        throw new HttpError(400, "Missing required key: 'certnames'. Please supply the list of certnames you want to sign as an array of strings.");
      }
      const results = await ca.signMany(names as string[], { actor: actorOf(request) });
      return respond(reply, 200, JSON.stringify(signReport(results, log)), TYPE.json);
    },
  },
};
