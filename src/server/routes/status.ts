/** GET /status/v1/simple: "running", for load balancers and service checks. */
import type { Endpoint } from "../deps.js";
import { respond, TYPE } from "../reply.js";

export const statusSimple: Endpoint = {
  url: "/status/v1/simple",
  methods: {
    async GET(_request, reply) {
      return respond(reply, 200, "running", TYPE.textUtf8);
    },
  },
};
