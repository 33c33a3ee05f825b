/**
 * /puppet-ca/v1/certificate_revocation_list
 *   GET  .../ca  the CRL (an intermediate CA's: its own, then its outer CAs'), PEM, with If-Modified-Since support (anyone).
 *   PUT          newer CRLs of the outer CAs of an intermediate CA, a PEM bundle (admin; crl-chain.ts has the rules).
 */
import type { CertificateAuthority } from "../../../ca/authority.js";
import { crlBundle, overlapChangedAt, regenerationView } from "../../../ca/lifecycle/rotation.js";
import { principalOf } from "../../client.js";
import { respond, TYPE } from "../../reply.js";
import { notModified } from "../conditional.js";
import type { PuppetRoute } from "../route.js";

/** An outer CA's CRL may be large (a public root's), and only admins get this far: the rule runs before the body is read. */
const MAX_CRL_UPLOAD_BYTES = 32 * 1024 * 1024;

/** What GET certificate_revocation_list/ca answers at `now` (fast-gets.ts answers it too): the PEM bundle and when it last changed. */
export async function crlAnswer(ca: CertificateAuthority, now: Date): Promise<{ body: string; lastModified: Date }> {
  const material = await ca.current();
  const view = await regenerationView(ca.store, now, material.cert.der);
  const overlap = view?.overlap && now < view.overlap.until ? view.overlap : undefined;
  // thisUpdate is when the CRL last changed: every revoke signs a new one, and so does a
  // PUT that changes an outer CA's CRL; the end of a rotation's overlap drops the old CA's.
  const ended = overlapChangedAt(view, now);
  // During a rotation's overlap the old CA's CRL follows: Puppet agents holding an old-CA
  // certificate check revocation against it (certificate_revocation = chain).
  return { body: crlBundle(material.raw.crlPem, overlap), lastModified: ended && ended > material.crl.thisUpdate ? ended : material.crl.thisUpdate };
}

export const certificateRevocationList: readonly PuppetRoute[] = [
  {
    method: "GET",
    // Puppet's router takes any key here; its auth rule then allows only "ca".
    url: "/certificate_revocation_list/:name",
    example: "/certificate_revocation_list/ca",
    rule: "crl",
    async handler(request, reply, { ca }) {
      const { body, lastModified } = await crlAnswer(ca, new Date());
      if (notModified(request, reply, lastModified)) return reply;
      return respond(reply, 200, body, TYPE.text);
    },
  },
  {
    method: "PUT",
    url: "/certificate_revocation_list",
    rule: "crl update",
    bodyLimit: () => MAX_CRL_UPLOAD_BYTES,
    tooLarge: (limit) => `The CRL bundle is larger than ${limit} bytes; nothing was updated.`,
    async handler(request, reply, { ca, log }) {
      const body = typeof request.body === "string" ? request.body : "";
      // Refusals are CaErrors of kind invalid-request: 400 with the message, as Puppet answers them.
      const plan = await ca.updateCrls(body, principalOf(request));
      for (const c of plan.changed) log.info({ issuer: c.issuer, from: c.from?.toString(), to: c.to.toString() }, `Updating CRL for issuer ${c.issuer}.`);
      for (const c of plan.notNewer) {
        log.warn({ issuer: c.issuer }, `Received CRLs for issuer ${c.issuer} but none were newer than the existing CRL; keeping the existing CRL.`);
      }
      for (const i of plan.ignored) log.info({ issuer: i }, `Ignored an uploaded CRL of ${i}.`);
      return respond(reply, 200, "Successfully updated CRLs.", TYPE.textUtf8);
    },
  },
];
