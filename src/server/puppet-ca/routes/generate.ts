/**
 * POST /puppet-ca/v1/generate/NAME (admin), optional body {"dns_alt_names": [...]}: the CA
 * makes a key and a signed certificate for a system that cannot run an agent, and returns
 * both, JSON {"private_key": PEM, "certificate": PEM}. The key is not kept anywhere.
 */
import { generateCertificate } from "../../../ca/generate.js";
import { principalOf } from "../../client.js";
import { nameParam } from "../../deps.js";
import { HttpError } from "../../errors.js";
import { keySpecOf } from "../../../config/index.js";
import { jsonBody, respond, TYPE } from "../../reply.js";
import type { PuppetRoute } from "../route.js";

function altNamesOf(body: unknown): string[] {
  if (typeof body !== "string" || body.trim() === "") return [];
  const parsed = jsonBody(body) as { dns_alt_names?: unknown } | null;
  const alt = parsed?.dns_alt_names ?? [];
  if (!Array.isArray(alt) || !alt.every((a) => typeof a === "string" && /^\S+$/.test(a))) {
    throw new HttpError(400, 'dns_alt_names must be a list of names, e.g. {"dns_alt_names": ["www.example.com", "IP:10.0.0.1"]}');
  }
  return alt as string[];
}

export const generate: readonly PuppetRoute[] = [
  {
    method: "POST",
    url: "/generate/:name",
    rule: "generate",
    named: true,
    async handler(request, reply, { ca, settings }) {
      const dnsAltNames = altNamesOf(request.body);
      const made = await generateCertificate(ca, nameParam(request), { by: principalOf(request), dnsAltNames, key: keySpecOf(settings) });
      return respond(reply, 200, JSON.stringify({ private_key: made.keyPem, certificate: made.certPem }), TYPE.json);
    },
  },
];
