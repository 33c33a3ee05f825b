/** GET /puppet-ca/v1/certificate/{ca,NAME}: the CA certificate (bundle) or a signed certificate, PEM. */
import type { CertificateAuthority } from "../../../ca/authority.js";
import { caBundle, overlapChangedAt, regenerationView } from "../../../ca/lifecycle/rotation.js";
import { nameParam } from "../../deps.js";
import { respond, TYPE } from "../../reply.js";
import { notModified } from "../conditional.js";
import type { PuppetRoute } from "../route.js";

const DAY_MS = 86_400_000;

/** What GET certificate/ca answers at `now` (fast-gets.ts answers it too): the PEM bundle and when it last changed. */
export async function caCertificateAnswer(ca: CertificateAuthority, now: Date): Promise<{ body: string; lastModified: Date }> {
  const material = await ca.current();
  const view = await regenerationView(ca.store, now, material.cert.der);
  const overlap = view?.overlap && now < view.overlap.until ? view.overlap : undefined;
  // The issue time of a CA Puppet or fleetca made (they backdate not-before by a day),
  // never in the future: stable across restarts, and it moves forward when the CA is
  // replaced, and again when a rotation's overlap ends and the old CA leaves the bundle.
  const lastModified = new Date(Math.min(now.getTime(), Math.max(material.cert.notBefore.getTime() + DAY_MS, overlapChangedAt(view, now)?.getTime() ?? 0)));
  // During a rotation's overlap: the new CA first (it issues, and agents pin it), then the old one.
  return { body: caBundle(material.raw.certPem, overlap), lastModified };
}

export const certificate: readonly PuppetRoute[] = [
  {
    method: "GET",
    url: "/certificate/:name",
    rule: "certificate",
    named: true,
    // A name that is not a valid certname cannot have a certificate either: Puppet says "not found".
    notFound: { body: (name) => `Could not find certificate ${name}`, type: TYPE.text },
    async handler(request, reply, { ca }) {
      const name = nameParam(request);
      if (name === "ca") {
        const { body, lastModified } = await caCertificateAnswer(ca, new Date());
        if (notModified(request, reply, lastModified)) return reply;
        return respond(reply, 200, body, TYPE.text);
      }
      return respond(reply, 200, await ca.getCertificatePem(name), TYPE.text);
    },
  },
];
