/** GET /puppet-ca/v1/expirations (any authenticated client): when the CA certificates and CRL expire. */
import type { Endpoint } from "../deps.js";
import { respond, TYPE } from "../reply.js";

export const expirations: Endpoint = {
  url: "/puppet-ca/v1/expirations",
  methods: {
    async GET(_request, reply, { ca }) {
      return respond(reply, 200, JSON.stringify(await ca.expirations()), TYPE.json);
    },
  },
};
