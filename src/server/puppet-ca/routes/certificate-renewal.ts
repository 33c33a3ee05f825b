/**
 * POST /puppet-ca/v1/certificate_renewal (authenticated): a new certificate for the
 * presented client certificate (same name, key and extensions, new serial and validity).
 * A client can only ever renew itself: the subject comes from its TLS certificate, never
 * from the request.
 */
import { certToPem, parseCertificatePem } from "../../pki/certificate.js";
import { actorOf, clientOf, type Endpoint } from "../deps.js";
import { HttpError } from "../errors.js";
import { respond, TYPE } from "../reply.js";

export const certificateRenewal: Endpoint = {
  url: "/puppet-ca/v1/certificate_renewal",
  methods: {
    async POST(request, reply, { ca }) {
      const client = clientOf(request);
      if (!client?.authenticated) throw new HttpError(403, "A valid client certificate issued by this CA is required to renew it.");
      // Only the certificate the CA currently holds for the name may be renewed: an older one
      // (replaced under allow_duplicate_certs) must not mint a fresh certificate.
      const current = await ca.getCertificatePem(client.certname).catch(() => undefined);
      if (!current || parseCertificatePem(current).serial !== client.cert.serial) {
        throw new HttpError(409, `The certificate presented for ${client.certname} is not the one this CA holds for it; only the current certificate can be renewed.`);
      }
      const renewed = await ca.renew(client.cert, actorOf(request));
      return respond(reply, 200, certToPem(renewed.der), TYPE.text);
    },
  },
};
