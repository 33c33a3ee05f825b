/** POST /puppet-ca/v1/sign/all (admin): signs every pending request; same answer shape as sign. */
import { actorOf, type Endpoint } from "../deps.js";
import { respond, TYPE } from "../reply.js";
import { signReport } from "../sign-report.js";

export const signAll: Endpoint = {
  url: "/puppet-ca/v1/sign/all",
  methods: {
    async POST(request, reply, { ca, log }) {
      const results = await ca.signAll({ actor: actorOf(request) });
      return respond(reply, 200, JSON.stringify(signReport(results, log)), TYPE.json);
    },
  },
};
