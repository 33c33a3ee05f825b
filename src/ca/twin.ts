/**
 * The refusal of a name whose trailing-dot twin (names.ts) is taken: `victim.example.com.`
 * signed beside `victim.example.com` passes TLS host checks for it. Not even
 * allow_duplicate_certs allows it: that setting is about one name, not two spellings.
 * A submission is refused while the twin has a request or a certificate (authority.ts);
 * any issuance is refused, under the CA lock, while the twin has a certificate
 * (signing-batches.ts), so two spellings signed at the same moment cannot both be kept.
 */
import { CaError } from "./errors.js";
import { isValidCertname, trailingDotTwin } from "./names.js";

/** The twin to check for `name`, or undefined when the other spelling is not a valid certname. */
export function twinOf(name: string): string | undefined {
  const twin = trailingDotTwin(name);
  return isValidCertname(twin) ? twin : undefined;
}

export function twinRefusal(name: string, twin: string, held: "signed certificate" | "certificate request"): CaError {
  return new CaError(
    "duplicate-cert",
    `${name} is the same host name as ${twin}, which already has a ${held}; ` +
      `names are compared without their trailing dot. Use ${twin}, or clean it first (\`fleetca ca clean ${twin}\`).`,
  );
}
