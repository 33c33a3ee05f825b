/** Turns a transport outcome into the AgentError a user can act on. One place, so every step words them alike. */
import type { Failure } from "./client.js";
import { AgentError } from "./errors.js";
import { caFingerprint, caSubject, peerIssuedBy, type CaBundle } from "./trust.js";

/**
 * `what` says what we were doing ("fetch the CRL from https://…"); `bundle` is the CA the connection was pinned
 * to, for the CA-changed message.
 */
export function failureError(f: Failure, what: string, bundle?: CaBundle): AgentError {
  switch (f.kind) {
    case "untrusted-server":
      return caChanged(what, bundle, f.peer ? serverCertSeen(f.peer.subject, f.peer.issuer, f.peer.fingerprint256) : `TLS said: ${f.message}`);
    case "server-name-mismatch":
      return new AgentError("server-name-mismatch", `Could not ${what}: the server's certificate is not valid for the name we connected to (${f.message}).`, {
        remedies: [{ note: "Use a server name the certificate lists (see the alt names above) with --server / --ca-server." }],
      });
    case "server-cert":
      if (f.peer?.der && bundle && !peerIssuedBy(f.peer.der, bundle).ok) {
        return caChanged(what, bundle, serverCertSeen(f.peer.subject, f.peer.issuer, f.peer.fingerprint256));
      }
      return new AgentError("unavailable", `Could not ${what}: the server's certificate is not acceptable (${f.code}: ${f.message}).`, {
        remedies: [{ note: "If it is expired or revoked, the CA server needs a new certificate; if it is 'not yet valid', check both clocks." }],
      });
    case "client-cert-refused":
      return new AgentError("server-refused", `Could not ${what}: the server refused this node's certificate (${f.code}).`);
    case "network":
      return new AgentError("unavailable", `Could not ${what}: ${f.message} (${f.code}).`, {
        remedies: [{ note: "Check that the server is running and reachable (name, port, firewall), then run the command again." }],
      });
    case "not-found":
    case "http":
      return new AgentError("unavailable", `Could not ${what}: the server answered HTTP ${f.status}${f.message ? `: ${f.message.replace(/\.$/, "")}` : ""}.`);
  }
}

/**
 * What the server presented, worded so that its fingerprint is not taken for the new CA's: it is the server's own
 * certificate, and --ca-fingerprint wants the CA's (`fleetca ca fingerprint ca` on the CA server prints it).
 */
export function serverCertSeen(subject: string, issuer: string, sha256: string): string {
  return `the server presented its own certificate ${subject}, issued by ${issuer} (SHA256 of that server certificate: ${sha256}; not the CA's fingerprint)`;
}

/** The saved CA no longer vouches for the server: regenerated CA, wrong server, or someone in the middle. */
export function caChanged(what: string, bundle: CaBundle | undefined, seen: string): AgentError {
  const saved = bundle ? `the saved CA is "${caSubject(bundle)}" (SHA256 ${caFingerprint(bundle)})` : "the saved CA";
  return new AgentError("ca-changed", `The CA changed: could not ${what} because the server's certificate does not verify against the saved CA certificate.`, {
    details: [saved, seen],
    remedies: [
      { note: "If the CA was regenerated on purpose, get the new CA's fingerprint on the CA server, then enroll again with it:" },
      { on: "ca", action: "fingerprint-ca" },
      { on: "agent", action: "clean-all" },
      { on: "agent", action: "bootstrap-pinned" },
      { note: "If nobody regenerated the CA, do not do that: something may be intercepting this connection." },
    ],
  });
}
