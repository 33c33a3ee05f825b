/**
 * The caller's identity from its TLS client certificate. A certificate counts only if it
 * chains to this CA (TLS checked it, and its signature is checked again against the CA
 * key the server has now, which may have been replaced since the TLS context was built)
 * and its serial is not in the current CRL, which the CA reloads within a second of a
 * revoke made anywhere (another server, the CLI).
 */
import type { TLSSocket } from "node:tls";
import type { FastifyRequest } from "fastify";
import type { CertificateAuthority } from "../ca/authority.js";
import { parseCertificateDer, verifySignedBy, type ParsedCertificate } from "../pki/certificate.js";
import { extensionText } from "../pki/extensions.js";
import { PP_CLI_AUTH } from "../pki/oids.js";
import type { Settings } from "../config/index.js";

/** What the transport knows about the peer certificate. */
export interface PeerCertificate {
  der: Buffer;
  /** The TLS layer verified the chain against the CA it was given. */
  tlsVerified: boolean;
}

/** Finds the peer certificate of a request; tests inject their own. */
export type PeerSource = (request: FastifyRequest) => PeerCertificate | undefined;

export const tlsPeer: PeerSource = (request) => {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== "function") return undefined;
  const cert = socket.getPeerCertificate(false);
  // Node returns an empty object when the client sent no certificate.
  if (!cert || !cert.raw) return undefined;
  return { der: cert.raw, tlsVerified: socket.authorized === true };
};

export interface Client {
  readonly certname: string;
  readonly cert: ParsedCertificate;
  /** Issued by this CA and not revoked: the only state that grants anything. */
  readonly authenticated: boolean;
  readonly revoked: boolean;
  readonly admin: boolean;
}

interface Checked {
  cert: ParsedCertificate;
  caCert: Buffer;
  signedByCa: boolean;
}

// Keep-alive connections send many requests with one certificate: parse and verify once per socket.
const perSocket = new WeakMap<object, Checked>();

function cliAuth(cert: ParsedCertificate): boolean {
  const ext = cert.extensions.find((e) => e.oid === PP_CLI_AUTH);
  if (!ext) return false;
  try {
    return extensionText(ext.value) === "true";
  } catch {
    return false;
  }
}

/** Resolves the caller; undefined when it sent no certificate (or one that is not X.509 at all). */
export async function identify(request: FastifyRequest, peer: PeerSource, ca: CertificateAuthority, settings: Settings): Promise<Client | undefined> {
  const presented = peer(request);
  if (!presented) return undefined;
  const material = await ca.current();
  const socket = request.raw.socket as object;
  let checked = perSocket.get(socket);
  if (!checked || !checked.cert.der.equals(presented.der) || checked.caCert !== material.cert.der) {
    let cert: ParsedCertificate;
    try {
      cert = parseCertificateDer(presented.der);
    } catch {
      return undefined;
    }
    const signedByCa = cert.issuerDer.equals(material.cert.subjectDer) && verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, material.cert.spki);
    checked = { cert, caCert: material.cert.der, signedByCa };
    perSocket.set(socket, checked);
  }
  const { cert } = checked;
  const verified = presented.tlsVerified && checked.signedByCa;
  const revoked = material.crl.serials.has(cert.serial);
  const authenticated = verified && !revoked;
  const admin = authenticated && (cliAuth(cert) || settings.adminAllowList.includes(cert.commonName));
  return { certname: cert.commonName, cert, authenticated, revoked, admin };
}
