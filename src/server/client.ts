/**
 * The caller's principal, from its TLS client certificate. A certificate makes a node (and an
 * admin, with pp_cli_auth or on admin_allow_list) only if it chains to this CA (TLS checked
 * it, and its signature is checked again against the CA key the server has now, which may
 * have been replaced since the TLS context was built), is within its validity, and its serial
 * is not in the current CRL, which the CA reloads within a second of a revoke made anywhere
 * (another server, the CLI). Any other certificate leaves the caller anonymous, with the
 * reason it was refused (for the log line of a denial).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { TLSSocket } from "node:tls";
import type { FastifyRequest } from "fastify";
import type { CertificateAuthority } from "../ca/authority.js";
import { anonymous, certificatePrincipal, type Principal } from "../ca/principal.js";
import { regenerationView, signedByOldCa } from "../ca/lifecycle/rotation.js";
import { Sightings } from "../ca/lifecycle/tracking.js";
import { parseCertificateDer, verifySignedBy, type ParsedCertificate } from "../pki/certificate.js";
import { extensionText } from "../pki/extensions.js";
import { PP_CLI_AUTH } from "../pki/oids.js";
import type { Settings } from "../config/index.js";
import type { ConsoleSession } from "../ca/store.js";
import { requestSession } from "./console/session.js";

/** What the transport knows about the peer certificate. */
export interface PeerCertificate {
  der: Buffer;
  /** The TLS layer verified the chain against the CA it was given. */
  tlsVerified: boolean;
}

/** What identifying a caller reads of a request: fastify's, or the bare one fast-gets.ts answers. */
export interface CallerRequest {
  readonly ip: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: { readonly socket: object };
}

/** Finds the peer certificate of a request; tests inject their own. */
export type PeerSource = (request: CallerRequest) => PeerCertificate | undefined;

export const tlsPeer: PeerSource = (request) => {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== "function") return undefined;
  const cert = socket.getPeerCertificate(false);
  // Node returns an empty object when the client sent no certificate.
  if (!cert || !cert.raw) return undefined;
  return { der: cert.raw, tlsVerified: socket.authorized === true };
};

/** Who is calling: the principal, and the certificate behind a certificate principal. */
export interface Identity {
  readonly principal: Principal;
  /** Set only for a certificate principal (renewal renews exactly this certificate). */
  readonly cert?: ParsedCertificate;
  /** Set only for a console session principal (its CSRF token guards every change). */
  readonly session?: ConsoleSession;
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

/** Why a certificate that parsed is not a node's, or undefined when it is. */
function refusal(checked: Checked, revoked: ReadonlySet<bigint>, tlsVerified: boolean, now: number): string | undefined {
  const { cert } = checked;
  if (!checked.signedByCa) return "issued by another CA";
  if (now > cert.notAfter.getTime()) return "expired";
  if (now < cert.notBefore.getTime()) return "not yet valid";
  if (revoked.has(cert.serial)) return "revoked";
  // Our own checks passed but TLS did not (a chain it could not build): trust TLS.
  if (!tlsVerified) return "not verified by TLS";
  return undefined;
}

/** Resolves the caller of a request. `from` is the peer address. */
export async function identify(request: CallerRequest, peer: PeerSource, ca: CertificateAuthority, settings: Settings): Promise<Identity> {
  const from = request.ip;
  const presented = peer(request);
  if (!presented) return sessionOrAnonymous(request, ca, anonymous(from));
  const material = await ca.current();
  const socket = request.raw.socket as object;
  let checked = perSocket.get(socket);
  if (!checked || !checked.cert.der.equals(presented.der) || checked.caCert !== material.cert.der) {
    let cert: ParsedCertificate;
    try {
      cert = parseCertificateDer(presented.der);
    } catch {
      return { principal: anonymous(from, "not an X.509 certificate") };
    }
    const signedByCa = cert.issuerDer.equals(material.cert.subjectDer) && verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, material.cert.spki);
    checked = { cert, caCert: material.cert.der, signedByCa };
    perSocket.set(socket, checked);
  }
  const now = new Date();
  let why = refusal(checked, material.crl.serials, presented.tlsVerified, now.getTime());
  if (why === "issued by another CA") why = await previousCa(ca, checked.cert, material, now, from);
  if (why) return sessionOrAnonymous(request, ca, anonymous(from, why));
  const { cert } = checked;
  const admin = cliAuth(cert) || settings.adminAllowList.includes(cert.commonName);
  return { principal: certificatePrincipal(cert.commonName, admin, from), cert };
}

/** Without a usable certificate, a console session cookie may still say who is calling. */
async function sessionOrAnonymous(request: CallerRequest, ca: CertificateAuthority, fallback: Principal): Promise<Identity> {
  const live = await requestSession(request, ca.store);
  return live ? { principal: live.principal, session: live.session } : { principal: fallback };
}

/**
 * Why a certificate of another CA is refused, or undefined when it is accepted: one of the CA
 * a rotation replaced, during the overlap (ca/lifecycle/rotation.ts), when it holds (its
 * dates; neither the old CA's last CRL nor the current one lists it: serials never repeat
 * across the two CAs, so revocations made during the overlap land in the current CRL). Its
 * node is noted as seen with an old certificate; after the overlap, or after a compromise, a
 * node of the old CA is refused with a reason naming it.
 */
async function previousCa(ca: CertificateAuthority, cert: ParsedCertificate, material: { cert: ParsedCertificate; crl: { serials: ReadonlySet<bigint> } }, now: Date, from: string): Promise<string | undefined> {
  const t = await regenerationView(ca.store, now, material.cert.der);
  const revoked = material.crl.serials;
  if (!t) return "issued by another CA";
  const o = t.overlap;
  const tracked = t.names.has(cert.commonName);
  if (o && now < o.until && signedByOldCa(cert, o)) {
    if (now.getTime() > cert.notAfter.getTime()) return "expired";
    if (now.getTime() < cert.notBefore.getTime()) return "not yet valid";
    if (revoked.has(cert.serial) || o.oldRevoked.has(cert.serial)) return "revoked";
    if (tracked) void sightingsOf(ca).note(cert.commonName, now, from).catch(() => undefined);
    return undefined;
  }
  if (!tracked) return "issued by another CA";
  void sightingsOf(ca).note(cert.commonName, now, from).catch(() => undefined);
  return `issued by the previous CA: ${cert.commonName} must re-enroll (puppet ssl clean, or fleetca agent clean, then run the agent)`;
}

const sightings = new WeakMap<object, Sightings>();

function sightingsOf(ca: CertificateAuthority): Sightings {
  let s = sightings.get(ca.store);
  if (!s) sightings.set(ca.store, (s = new Sightings(ca.store)));
  return s;
}

const identities = new WeakMap<FastifyRequest, Identity>();

export function setIdentity(request: FastifyRequest, identity: Identity): void {
  identities.set(request, identity);
}

/** The caller of a request (set before any handler runs). */
export function identityOf(request: FastifyRequest): Identity {
  return identities.get(request) ?? { principal: anonymous(request.ip) };
}

/** Who is acting, for the CA and its audit trail. */
export function principalOf(request: FastifyRequest): Principal {
  return identityOf(request).principal;
}
