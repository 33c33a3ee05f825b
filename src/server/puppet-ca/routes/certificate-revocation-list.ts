/** GET /puppet-ca/v1/certificate_revocation_list/ca: the CRL, PEM, with If-Modified-Since support. */
import type { Endpoint } from "../deps.js";
import { notModified } from "../conditional.js";
import { respond, TYPE } from "../reply.js";

export const certificateRevocationList: Endpoint = {
  // Puppet's router takes any key here (its auth rule then allows only "ca").
  url: "/puppet-ca/v1/certificate_revocation_list/:name",
  methods: {
    async GET(request, reply, { ca }) {
      const material = await ca.current();
      // thisUpdate is when the CRL last changed: every revoke signs a new one.
      if (notModified(request, reply, material.crl.thisUpdate)) return reply;
      return respond(reply, 200, material.raw.crlPem, TYPE.text);
    },
  },
};
