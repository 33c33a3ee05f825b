/**
 * /puppet-ca/v1/certificate_request/NAME
 *   PUT     submit a CSR (anyone): Puppet's order of checks lives in ca.submitRequest.
 *   GET     the pending CSR, PEM (anyone).
 *   DELETE  drop a pending CSR (admin; Puppet's default auth.conf forbids it for everyone).
 */
import { CaError } from "../../../ca/errors.js";
import { principalOf } from "../../client.js";
import { nameParam } from "../../deps.js";
import { respond, TYPE } from "../../reply.js";
import type { PuppetRoute } from "../route.js";

const notFound = { body: (name: string) => `Could not find certificate_request ${name}`, type: TYPE.text };

export const certificateRequest: readonly PuppetRoute[] = [
  {
    method: "PUT",
    url: "/certificate_request/:name",
    rule: "csr",
    named: true,
    submission: "request",
    // Every refusal of a submitted CSR is a 400 in Puppet, including signing-policy failures
    // under autosign (which answer 409 through certificate_status).
    statusOf: { "disallowed-extension": 400 },
    bodyLimit: (s) => s.maxCsrBytes,
    tooLarge: (limit) =>
      `The certificate request is larger than ${limit} bytes (the max_csr_bytes setting); nothing was stored. A PEM CSR is a few kilobytes.`,
    async handler(request, reply, { ca }) {
      // Deliberate deviation: Puppet answers an unparsable body with a 500 and a Java exception;
      // fleetca says what is wrong with a 400 (ca.parseRequest's message).
      const body = typeof request.body === "string" ? request.body : "";
      if (body.trim() === "") {
        throw new CaError("invalid-csr", "The request body is empty. Send a PEM-encoded PKCS#10 certificate request (-----BEGIN CERTIFICATE REQUEST-----).");
      }
      await ca.submitRequest(nameParam(request), body, principalOf(request));
      return respond(reply, 200, undefined, TYPE.text);
    },
  },
  {
    method: "GET",
    url: "/certificate_request/:name",
    rule: "csr",
    named: true,
    notFound,
    async handler(request, reply, { ca }) {
      return respond(reply, 200, await ca.getRequestPem(nameParam(request)), TYPE.text);
    },
  },
  {
    method: "DELETE",
    url: "/certificate_request/:name",
    rule: "csr delete",
    named: true,
    notFound,
    async handler(request, reply, { ca }) {
      await ca.deleteRequest(nameParam(request), principalOf(request));
      return respond(reply, 204, undefined, TYPE.text);
    },
  },
];
