/** GET /puppet-ca/v1/certificate_revocation_list/ca: the CRL, PEM, with If-Modified-Since support. */
import { respond, TYPE } from "../../reply.js";
import { notModified } from "../conditional.js";
import type { PuppetRoute } from "../route.js";

export const certificateRevocationList: readonly PuppetRoute[] = [
  {
    method: "GET",
    // Puppet's router takes any key here; its auth rule then allows only "ca".
    url: "/certificate_revocation_list/:name",
    example: "/certificate_revocation_list/ca",
    rule: "crl",
    async handler(request, reply, { ca }) {
      const material = await ca.current();
      // thisUpdate is when the CRL last changed: every revoke signs a new one.
      if (notModified(request, reply, material.crl.thisUpdate)) return reply;
      return respond(reply, 200, material.raw.crlPem, TYPE.text);
    },
  },
];
