/**
 * POST /puppet-ca/v1/certificate_renewal (node): a new certificate for the presented client
 * certificate (same name, key and extensions, new serial and validity). A client can only
 * ever renew itself: the subject comes from its TLS certificate, never from the request.
 */
import { certToPem, parseCertificatePem } from "../../../pki/certificate.js";
import { identityOf } from "../../client.js";
import { HttpError } from "../../errors.js";
import { respond, TYPE } from "../../reply.js";
import type { PuppetRoute } from "../route.js";

export const certificateRenewal: readonly PuppetRoute[] = [
  {
    method: "POST",
    url: "/certificate_renewal",
    rule: "certificate renewal",
    submission: "renewal",
    async handler(request, reply, { ca }) {
      const { principal, cert } = identityOf(request);
      // The rule admits nodes only; this guards an auth_rules entry that opens the path wider.
      if (!cert) throw new HttpError(403, "A valid client certificate issued by this CA is required to renew it.");
      // Only the certificate the CA currently holds for the name may be renewed: an older one
      // (replaced under allow_duplicate_certs) must not mint a fresh certificate.
      const current = await ca.getCertificatePem(principal.name).catch(() => undefined);
      if (!current || parseCertificatePem(current).serial !== cert.serial) {
        throw new HttpError(409, `The certificate presented for ${principal.name} is not the one this CA holds for it; only the current certificate can be renewed.`);
      }
      const renewed = await ca.renew(cert, principal);
      return respond(reply, 200, certToPem(renewed.der), TYPE.text);
    },
  },
];
