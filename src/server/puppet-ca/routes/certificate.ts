/** GET /puppet-ca/v1/certificate/{ca,NAME}: the CA certificate (bundle) or a signed certificate, PEM. */
import { isCaError } from "../../ca/errors.js";
import { nameParam, type Endpoint } from "../deps.js";
import { notModified } from "../conditional.js";
import { respond, routerNotFound, ROUTER_NAME, TYPE } from "../reply.js";

const DAY_MS = 86_400_000;

export const certificate: Endpoint = {
  url: "/puppet-ca/v1/certificate/:name",
  methods: {
    async GET(request, reply, { ca }) {
      const name = nameParam(request);
      if (!ROUTER_NAME.test(name)) return routerNotFound(reply);
      if (name === "ca") {
        const material = await ca.current();
        // The issue time of a CA Puppet or fleetca made (they backdate not-before by a day),
        // never in the future: stable across restarts, and it moves forward when the CA is replaced.
        const issued = new Date(Math.min(Date.now(), material.cert.notBefore.getTime() + DAY_MS));
        if (notModified(request, reply, issued)) return reply;
        return respond(reply, 200, material.raw.certPem, TYPE.text);
      }
      try {
        return respond(reply, 200, await ca.getCertificatePem(name), TYPE.text);
      } catch (e) {
        // A name that is not a valid certname cannot have a certificate either: Puppet says "not found".
        if (isCaError(e) && (e.kind === "not-found" || e.kind === "invalid-name")) {
          return respond(reply, 404, `Could not find certificate ${name}`, TYPE.text);
        }
        throw e;
      }
    },
  },
};
