/**
 * Step 6: check the credentials locally (key, CA, CRL, clock), renew them when they near expiry, then prove them
 * with one mutual-TLS request to the server. When the server refuses our certificate, a fresh CRL tells whether
 * it was revoked since we last looked.
 */
import { parseCertificatePem, type ParsedCertificate } from "../pki/certificate.js";
import { fingerprint } from "../pki/fingerprint.js";
import { rfcName } from "../pki/name.js";
import { checkCredentials, dueForRenewal } from "./checks.js";
import { AgentError, reenroll } from "./errors.js";
import { failureError } from "./failures.js";
import type { Failure } from "./client.js";
import type { State, StepContext } from "./states.js";
import { refreshCrl } from "./step-trust.js";
import { caFingerprint, caSubject, issuedBy, parseCaBundle, parseCrlFor, pathOf, type TrustMaterial } from "./trust.js";

type VerifyState = Extract<State, { name: "Verify" }>;

function check(ctx: StepContext, s: VerifyState, trust: TrustMaterial): AgentError | undefined {
  return checkCredentials({
    certname: ctx.opts.certname,
    cert: s.cert,
    certPath: ctx.ssldir.path("cert"),
    keyPath: ctx.ssldir.path("privateKey"),
    keySpki: s.key.spki,
    bundle: trust,
    crl: trust.crl,
    otherCrls: trust.otherCrls,
    now: ctx.deps.clock(),
  });
}

export async function verify(ctx: StepContext, s: VerifyState): Promise<State> {
  const { client, deps, opts } = ctx;
  const problem = check(ctx, s, s.trust);
  if (problem) throw problem;
  // A certificate of a CA the bundle lists after the issuing one: the CA is being rotated, and
  // this node moves to the new CA by renewing while the old one is still trusted.
  const head = s.trust.chain[0]!;
  const issuer = issuedBy(s.cert, s.trust);
  const rotating = issuer !== undefined && issuer !== head && !pathOf(head, s.trust).includes(issuer);
  if (!s.renewed && (opts.mode === "renew" || rotating || dueForRenewal(s.cert, deps.clock(), opts.hostcertRenewalInterval))) {
    return { name: "Renew", trust: s.trust, key: s.key, cert: s.cert, certPem: s.certPem };
  }
  const probe = await client.probeMutualTls(s.trust, { certPem: s.certPem, keyPem: s.key.pem });
  let mutualTls: "proven" | "unconfirmed" = "proven";
  if (!probe.ok) {
    // A server without the `expirations` endpoint still completed the handshake with our certificate offered.
    if (probe.failure.kind === "not-found") mutualTls = "unconfirmed";
    else throw await refused(ctx, s, probe.failure);
  }
  deps.emit({
    type: "verified",
    subject: rfcName(s.cert.subject),
    issuer: rfcName(s.cert.issuer),
    serial: s.cert.serial.toString(16).toUpperCase(),
    notAfter: s.cert.notAfter,
    fingerprint: fingerprint(s.cert.der),
    mutualTls,
    url: client.serverUrl,
  });
  return { name: "Done", trust: s.trust, cert: s.cert };
}

/** Why the server would not take our certificate: revoked (per a fresh CRL), or else the server's own words. */
async function refused(ctx: StepContext, s: VerifyState, f: Failure): Promise<AgentError> {
  const what = `make a mutual-TLS request to ${ctx.client.serverUrl}`;
  const byServer = f.kind === "client-cert-refused" || (f.kind === "http" && (f.status === 401 || f.status === 403));
  if (!byServer) return failureError(f, what, s.trust);
  const fresh = await refreshCrl(ctx, s.trust);
  if (fresh) {
    const problem = check(ctx, s, fresh);
    if (problem) return problem;
  }
  return new AgentError("server-refused", `The server at ${ctx.client.serverUrl} refused this node's certificate (${f.kind === "http" ? `HTTP ${f.status}: ${f.message}` : f.code}), although it checks out here.`, {
    remedies: [{ note: "Look at the server's log for the reason (its auth rules, or a CA it does not share with this node's CA)." }],
  });
}

export async function renew(ctx: StepContext, s: Extract<State, { name: "Renew" }>): Promise<State> {
  const { client, deps, ssldir, opts } = ctx;
  deps.emit({ type: "renewal", action: "renewing", notAfter: s.cert.notAfter, asked: opts.mode === "renew" });
  const r = await client.renewCertificate(s.trust, { certPem: s.certPem, keyPem: s.key.pem });
  const giveUp = (err: AgentError): State => {
    if (opts.mode === "renew" || err.kind === "ca-changed") throw err;
    // Automatic renewal is best effort: the current certificate is still good, so carry on with it.
    deps.emit({ type: "renewal", action: "failed", notAfter: s.cert.notAfter, reason: err.message });
    return { name: "Verify", trust: s.trust, key: s.key, cert: s.cert, certPem: s.certPem, renewed: true };
  };
  const what = `renew the certificate for ${opts.certname} at ${client.caUrl}`;
  if (!r.ok) return giveUp(renewalUnsupported(r.failure, what, s.cert.notAfter, opts.certname) ?? failureError(r.failure, what, s.trust));
  let cert;
  try {
    cert = parseCertificatePem(r.value);
  } catch (e) {
    return giveUp(new AgentError("unavailable", `Could not ${what}: the answer is not a certificate (${(e as Error).message}).`));
  }
  if (!cert.spki.equals(s.key.spki) || cert.commonName !== opts.certname) {
    return giveUp(new AgentError("unavailable", `Could not ${what}: the CA sent a certificate for another key or name.`));
  }
  let trust = s.trust;
  if (issuedBy(cert, trust) !== trust.chain[0]) {
    // Issued by a CA we do not hold yet (a rotation: the old CA still vouches for this server,
    // so what it serves now is trusted): fetch the bundle and CRLs before keeping the certificate.
    const fresh = await newCaTrust(ctx, trust, cert);
    if (fresh instanceof AgentError) return giveUp(fresh);
    trust = fresh;
    // In this order, so that a crash between two writes leaves files that still fit together:
    // the bundle holds both CAs, and the old certificate stays until the new one is trusted.
    await ssldir.write("ca", trust.caPem);
    await ssldir.markUpdated("ca", deps.clock());
    await ssldir.write("crl", trust.crlPem);
    await ssldir.markUpdated("crl", deps.clock());
    deps.emit({ type: "ca", action: "refreshed", subject: caSubject(trust), fingerprint: caFingerprint(trust), url: client.caUrl });
  }
  await ssldir.write("cert", r.value);
  deps.emit({ type: "renewal", action: "renewed", notAfter: cert.notAfter });
  return { name: "Verify", trust, key: s.key, cert, certPem: r.value, renewed: true };
}

/** The CA bundle and CRLs as the CA serves them now, when its issuing CA issued `cert`; else why not. */
async function newCaTrust(ctx: StepContext, trust: TrustMaterial, cert: ParsedCertificate): Promise<TrustMaterial | AgentError> {
  const { client } = ctx;
  const what = `fetch the CA bundle that issued the renewed certificate from ${client.caUrl}`;
  const ca = await client.refreshCaBundle(trust);
  if (!ca.ok) return failureError(ca.failure, what, trust);
  if (ca.value.notModified) return new AgentError("unavailable", `Could not ${what}: the CA answered 304 Not Modified to an unconditional request.`);
  const crl = await client.getCrl(trust);
  if (!crl.ok) return failureError(crl.failure, `fetch the CRLs from ${client.caUrl}`, trust);
  if (crl.value.notModified) return new AgentError("unavailable", `The CA at ${client.caUrl} answered 304 Not Modified to an unconditional CRL request.`);
  try {
    const fresh = parseCrlFor(parseCaBundle(ca.value.pem, client.caUrl), crl.value.pem, client.caUrl);
    if (issuedBy(cert, fresh) !== fresh.chain[0]) {
      return new AgentError("untrusted-cert", `The renewed certificate for ${ctx.opts.certname} was not issued by the CA "${caSubject(fresh)}" that ${client.caUrl} serves; it was not saved.`);
    }
    return fresh;
  } catch (e) {
    if (e instanceof AgentError) return e;
    throw e;
  }
}

/**
 * A CA without the certificate_renewal endpoint: 404/405, or Puppet Server's auth.conf refusal ("Forbidden
 * request: …"), which is what releases without the endpoint (7.9.5 among them) answer, as they have no rule for it.
 */
function renewalUnsupported(f: Failure, what: string, notAfter: Date, certname: string): AgentError | undefined {
  const unsupported = f.kind === "not-found" || (f.kind === "http" && (f.status === 405 || (f.status === 403 && /^Forbidden request:/.test(f.message))));
  if (!unsupported) return undefined;
  return new AgentError(
    "rejected",
    `Could not ${what}: this CA does not offer certificate renewal (POST /puppet-ca/v1/certificate_renewal answered HTTP ${f.status}: ${f.message.replace(/\.$/, "") || "no message"}). Puppet Server releases without that endpoint answer this way. The current certificate stays valid until ${notAfter.toISOString()}.`,
    { remedies: [{ note: "To get a certificate that lasts longer, enroll this node again:" }, ...reenroll(certname)] },
  );
}
