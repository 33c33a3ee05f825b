/** GET /puppet-ca/v1/expirations (any node): when the CA certificates and CRL expire. */
import { respond, TYPE } from "../../reply.js";
import type { PuppetRoute } from "../route.js";

export const expirations: readonly PuppetRoute[] = [
  {
    method: "GET",
    url: "/expirations",
    rule: "expirations",
    async handler(_request, reply, { ca }) {
      return respond(reply, 200, JSON.stringify(await ca.expirations()), TYPE.json);
    },
  },
];
