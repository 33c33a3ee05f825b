/**
 * /puppet-ca/v1/certificate_request/NAME
 *   PUT     submit a CSR (anyone): Puppet's order of checks lives in ca.submitRequest.
 *   GET     the pending CSR, PEM (anyone).
 *   DELETE  drop a pending CSR (admin; Puppet's default auth.conf forbids it for everyone).
 */
import { CaError, isCaError } from "../../ca/errors.js";
import { actorOf, nameParam, type Endpoint } from "../deps.js";
import { STATUS_BY_KIND } from "../errors.js";
import { respond, routerNotFound, ROUTER_NAME, TYPE } from "../reply.js";

export const certificateRequest: Endpoint = {
  url: "/puppet-ca/v1/certificate_request/:name",
  bodyLimit: (s) => s.maxCsrBytes,
  tooLarge: (limit) =>
    `The certificate request is larger than ${limit} bytes (the max_csr_bytes setting); nothing was stored. A PEM CSR is a few kilobytes.`,
  methods: {
    async PUT(request, reply, { ca }) {
      const name = nameParam(request);
      if (!ROUTER_NAME.test(name)) return routerNotFound(reply);
      // Deliberate deviation: Puppet answers an unparsable body with a 500 and a Java exception;
      // fleetca says what is wrong with a 400 (ca.parseRequest's message).
      const body = typeof request.body === "string" ? request.body : "";
      try {
        if (body.trim() === "") {
          throw new CaError("invalid-csr", "The request body is empty. Send a PEM-encoded PKCS#10 certificate request (-----BEGIN CERTIFICATE REQUEST-----).");
        }
        await ca.submitRequest(name, body, actorOf(request));
      } catch (e) {
        // Every refusal of a submitted CSR is a 400 in Puppet, including signing-policy
        // failures under autosign (which answer 409 through certificate_status).
        if (isCaError(e)) return respond(reply, e.kind === "disallowed-extension" ? 400 : STATUS_BY_KIND[e.kind], e.message, TYPE.textUtf8);
        throw e;
      }
      return respond(reply, 200, undefined, TYPE.text);
    },

    async GET(request, reply, { ca }) {
      const name = nameParam(request);
      if (!ROUTER_NAME.test(name)) return routerNotFound(reply);
      try {
        return respond(reply, 200, await ca.getRequestPem(name), TYPE.text);
      } catch (e) {
        if (isCaError(e) && (e.kind === "not-found" || e.kind === "invalid-name")) {
          return respond(reply, 404, `Could not find certificate_request ${name}`, TYPE.text);
        }
        throw e;
      }
    },

    async DELETE(request, reply, { ca }) {
      const name = nameParam(request);
      if (!ROUTER_NAME.test(name)) return routerNotFound(reply);
      try {
        await ca.deleteRequest(name, actorOf(request));
      } catch (e) {
        if (isCaError(e) && (e.kind === "not-found" || e.kind === "invalid-name")) {
          return respond(reply, 404, `Could not find certificate_request ${name}`, TYPE.text);
        }
        throw e;
      }
      return respond(reply, 204, undefined, TYPE.text);
    },
  },
};
