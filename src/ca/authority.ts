/**
 * The certificate authority's operations. Every signing path (autosign, CLI, API, console)
 * ends here; transports decode input and render output, nothing more.
 */
import { AltNameError, encodeAltNames } from "../pki/altnames.js";
import { certToPem, issueCertificate, parseCertificateDer, parseCertificatePem, verifySignedBy, type ParsedCertificate } from "../pki/certificate.js";
import { withRevocations } from "../pki/crl.js";
import { csrToPem, parseCsrPem, verifyCsrSignature, CsrError, type ParsedCsr } from "../pki/csr.js";
import { fingerprint } from "../pki/fingerprint.js";
import { cnName, slashName } from "../pki/name.js";
import { leafExtensions } from "../pki/profile.js";
import { AUTOSIGN_OFF, type Autosigner } from "./autosign.js";
import { CaError } from "./errors.js";
import { loadMaterial, type LoadedMaterial } from "./material.js";
import { isValidCertname, validateCertname } from "./names.js";
import { checkSigningPolicy } from "./policy.js";
import { puppetDate, statusOf, type CertState, type CertStatus } from "./status.js";
import { publishCrl } from "./crl-publish.js";
import { SigningBatches } from "./signing-batches.js";
import type { CaStore, IndexEntry } from "./store.js";
import { certificateEntry, requestEntry, summarize } from "./summarize.js";

const DAY_MS = 86_400_000;
/** The latest notAfter X.509 can express (RFC 5280 GeneralizedTime has four year digits). */
const LATEST_NOT_AFTER = Date.UTC(9999, 11, 31, 23, 59, 59);
/**
 * Certificates in flight in signMany. Signatures are limited to one per core (pki/keys.ts);
 * the rest wait on a serial or on the store, and the store commits what is waiting in one
 * batch. With 8 the signing cores sat idle while requests waited on fsyncs; 32 keeps them fed.
 */
const SIGN_MANY_IN_FLIGHT = 32;
/** Puppet's CRL nextUpdate: five calendar years. */
const CRL_YEARS = 5;

export interface CaSettings {
  /** Seconds a certificate is valid by default (Puppet's ca_ttl). */
  caTtl: number;
  allowSubjectAltNames: boolean;
  allowAuthorizationExtensions: boolean;
  allowDuplicateCerts: boolean;
}

/** Who asked, for the audit log: a certname, "cli:root", "console:admin"; and from where. */
export interface Actor {
  who: string;
  from: string;
}

export interface AuditEvent {
  event: "submitted" | "signed" | "revoked" | "cleaned" | "deleted" | "autosign-rejected";
  name: string;
  actor: Actor;
  serial?: string;
  detail?: string;
}

export interface CaDeps {
  store: CaStore;
  settings: CaSettings;
  clock?: () => Date;
  autosigner?: Autosigner;
  audit?: (e: AuditEvent) => void;
  /** Take serials in blocks (a long-running server; see serial-reserve.ts). */
  reserveSerials?: boolean;
}

export interface SignOptions {
  actor: Actor;
  /** The operator's --allow-dns-alt-names for this signing. */
  allowDnsAltNames?: boolean;
  /** Overrides ca_ttl for this certificate (seconds). */
  ttlSeconds?: number;
  /** Adds pp_cli_auth (the server's own certificate). */
  cliAuth?: boolean;
}

export interface SubmitResult {
  state: "requested" | "signed";
  /** Set when autosign was asked and said no or failed policy; the request stays pending. */
  autosign?: { sign: boolean; reason: string };
}

const SYSTEM: Actor = { who: "fleetca", from: "local" };

export class CertificateAuthority {
  readonly store: CaStore;
  private readonly settings: CaSettings;
  private readonly clock: () => Date;
  private readonly autosigner: Autosigner;
  private readonly audit: (e: AuditEvent) => void;
  private material?: LoadedMaterial;
  /** Serials and certificate storage, group-committed (signing-batches.ts). */
  private readonly batches: SigningBatches;
  private lastVersionCheck = 0;

  constructor(deps: CaDeps) {
    this.store = deps.store;
    this.settings = deps.settings;
    this.clock = deps.clock ?? (() => new Date());
    this.autosigner = deps.autosigner ?? AUTOSIGN_OFF;
    this.audit = deps.audit ?? (() => undefined);
    this.batches = new SigningBatches(this.store, { reserveSerials: deps.reserveSerials });
  }

  /** The CA's credentials, reloaded when the store's version token changes (checked at most every 250 ms). */
  async current(force = false): Promise<LoadedMaterial> {
    const now = Date.now();
    if (this.material && !force && now - this.lastVersionCheck < 250) return this.material;
    this.lastVersionCheck = now;
    const version = await this.store.materialVersion();
    if (!this.material || this.material.version !== version) {
      if (!(await this.store.isInitialized())) {
        throw new CaError("not-initialized", `No CA found at ${this.store.location}; create one with \`fleetca ca setup\` or import one with \`fleetca ca import\`.`);
      }
      this.material = loadMaterial(await this.store.loadCaMaterial(), version);
    }
    return this.material;
  }

  async caCertificatePem(): Promise<string> {
    return (await this.current()).raw.certPem;
  }

  async crlPem(): Promise<string> {
    return (await this.current()).raw.crlPem;
  }

  /** Serials currently revoked (for the server's client-certificate check). */
  async revokedSerials(): Promise<ReadonlySet<bigint>> {
    return (await this.current()).crl.serials;
  }

  // ------------------------------------------------------------------ requests

  /** Parses and checks a CSR as the server does, without storing it. */
  parseRequest(csrPem: string): ParsedCsr {
    let csr: ParsedCsr;
    try {
      csr = parseCsrPem(csrPem);
    } catch (e) {
      if (e instanceof CsrError) throw new CaError("invalid-csr", `${e.message}. Send a PEM-encoded PKCS#10 certificate request (-----BEGIN CERTIFICATE REQUEST-----).`);
      throw e;
    }
    let ok: boolean;
    try {
      ok = verifyCsrSignature(csr);
    } catch (e) {
      throw new CaError("invalid-csr", (e as Error).message);
    }
    if (!ok) throw new CaError("invalid-csr", "The certificate request's signature does not verify: it was altered or not signed by its own key. Generate a new request.");
    // The names are copied into the certificate: one that cannot be written again (an IP of
    // 5 bytes) would otherwise fail only at signing, with a 500 that aborts a whole sign --all.
    try {
      encodeAltNames(csr.altNames);
    } catch (e) {
      if (e instanceof AltNameError) throw new CaError("invalid-csr", `The request's subjectAltName cannot be copied into a certificate: ${e.message}. Generate a new request.`);
      throw e;
    }
    return csr;
  }

  /**
   * Accepts a CSR for `name` in Puppet's order: parse, duplicate check by the CSR's CN,
   * subject checks, store, then autosign (policy failures leave the request pending).
   */
  async submitRequest(name: string, csrPem: string, actor: Actor): Promise<SubmitResult> {
    // The name is checked first, before it can reach a path or a query; then Puppet's order:
    // the duplicate check by the CSR's CN comes before the CN/name comparison.
    validateCertname(name);
    const csr = this.parseRequest(csrPem);
    if (isValidCertname(csr.commonName)) await this.checkDuplicate(csr.commonName);
    if (csr.commonName !== name) {
      throw new CaError("hostname-mismatch", `Instance name ${JSON.stringify(csr.commonName)} does not match requested key ${JSON.stringify(name)}`);
    }
    const decision = await this.autosigner.decide(name, csrPem);
    if (decision.sign && this.passesSigningPolicy(name, csr)) {
      // Signed straight from the submission: storing the request only to delete it a moment
      // later cost three durable file operations per enrollment (bench/results, enroll-*).
      this.audit({ event: "submitted", name, actor, detail: fingerprint(csr.der) });
      await this.signParsed(name, csr, { actor: { who: "autosign", from: actor.from } }, false);
      return { state: "signed", autosign: decision };
    }
    await this.store.putRequest(name, csrPem, requestEntry(name, csr));
    this.audit({ event: "submitted", name, actor, detail: fingerprint(csr.der) });
    if (!decision.sign) {
      if (decision.reason !== "autosign is off") this.audit({ event: "autosign-rejected", name, actor, detail: decision.reason });
      return { state: "requested", autosign: decision };
    }
    // Autosign said yes but the request breaks the signing policy: as Puppet does, it stays
    // pending and the submitter is told why (signParsed throws the policy's CaError).
    await this.signParsed(name, csr, { actor: { who: "autosign", from: actor.from } });
    return { state: "signed", autosign: decision };
  }

  private async checkDuplicate(name: string): Promise<void> {
    if (this.settings.allowDuplicateCerts || !name) return;
    const { request, certificate } = await this.store.getIndexEntry(name, summarize);
    if (request) throw new CaError("duplicate-cert", `${name} already has a requested certificate; ignoring certificate request`);
    if (certificate) {
      const state = await this.certState(certificate);
      throw new CaError("duplicate-cert", `${name} already has a ${state} certificate; ignoring certificate request`);
    }
  }

  async getRequestPem(name: string): Promise<string> {
    validateCertname(name);
    const pem = await this.store.getRequest(name);
    if (!pem) throw new CaError("not-found", `Could not find certificate_request ${name}`);
    return pem;
  }

  // ------------------------------------------------------------------ signing

  async sign(name: string, opts: SignOptions): Promise<ParsedCertificate> {
    validateCertname(name);
    const pem = await this.store.getRequest(name);
    if (!pem) {
      const { certificate } = await this.store.getIndexEntry(name, summarize);
      if (certificate) throw new CaError("conflict", `Cannot sign certificate for host ${name} without a certificate request`);
      throw new CaError("not-found", `Could not find certificate request for ${name}`);
    }
    return this.signParsed(name, this.parseRequest(pem), opts);
  }

  /** Signs every pending request; one result per name, in name order. */
  async signAll(opts: SignOptions, onProgress?: (done: number, total: number) => void): Promise<{ name: string; error?: CaError }[]> {
    const pending = (await this.store.listIndex(summarize)).filter((e) => e.state === "requested").map((e) => e.name);
    return this.signMany(pending, opts, onProgress);
  }

  /** Signs names with bounded concurrency so both cores sign (the signature runs on the libuv pool). */
  async signMany(names: string[], opts: SignOptions, onProgress?: (done: number, total: number) => void): Promise<{ name: string; error?: CaError }[]> {
    const results: { name: string; error?: CaError }[] = names.map((name) => ({ name }));
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < names.length) {
        const i = next++;
        try {
          await this.sign(names[i]!, opts);
        } catch (e) {
          if (!(e instanceof CaError)) throw e;
          results[i]!.error = e;
        }
        onProgress?.(++done, names.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(SIGN_MANY_IN_FLIGHT, names.length) }, worker));
    return results;
  }

  private passesSigningPolicy(name: string, csr: ParsedCsr): boolean {
    try {
      checkSigningPolicy(
        { name, altNames: csr.altNames, extensions: csr.extensions },
        { allowSubjectAltNames: this.settings.allowSubjectAltNames, allowAuthorizationExtensions: this.settings.allowAuthorizationExtensions },
      );
      return true;
    } catch (e) {
      if (e instanceof CaError) return false;
      throw e;
    }
  }

  /** `fromStoredRequest` false: signed straight from a submission, no request was stored. */
  private async signParsed(name: string, csr: ParsedCsr, opts: SignOptions, fromStoredRequest = true): Promise<ParsedCertificate> {
    const copied = checkSigningPolicy(
      { name, altNames: csr.altNames, extensions: csr.extensions },
      { allowSubjectAltNames: this.settings.allowSubjectAltNames, allowAuthorizationExtensions: this.settings.allowAuthorizationExtensions },
      opts.allowDnsAltNames,
    );
    const ca = await this.current();
    const now = this.clock();
    const ttl = opts.ttlSeconds ?? this.settings.caTtl;
    const notAfter = now.getTime() + ttl * 1000;
    if (!(notAfter <= LATEST_NOT_AFTER)) {
      throw new CaError("invalid-request", `A validity of ${ttl} seconds (cert_ttl) for ${name} ends after 9999-12-31, the latest date a certificate can carry; choose a shorter cert_ttl.`);
    }
    const serial = await this.batches.serial();
    const der = await issueCertificate(
      {
        serial,
        issuer: ca.cert.subjectDer,
        subject: cnName(name),
        notBefore: new Date(now.getTime() - DAY_MS),
        notAfter: new Date(notAfter),
        spki: csr.spki,
        extensions: leafExtensions({
          commonName: name, spki: csr.spki, altNames: csr.altNames, copied, caSpki: ca.cert.spki,
          caIssuerDer: ca.cert.issuerDer, caSerial: ca.cert.serial, cliAuth: opts.cliAuth,
        }),
      },
      ca.key,
    );
    const cert = parseCertificateDer(der);
    const inventory = { serial, notBefore: cert.notBefore, notAfter: cert.notAfter, subject: slashName(cert.subject) };
    const refused = await this.batches.commit({
      name, certPem: certToPem(der), inventory, entry: certificateEntry(name, cert),
      removeRequest: fromStoredRequest, allowDuplicate: this.settings.allowDuplicateCerts,
    });
    if (refused) throw refused;
    this.audit({ event: "signed", name, actor: opts.actor, serial: serial.toString(16).toUpperCase() });
    return cert;
  }

  /** Issues a certificate directly from a parsed CSR that is not stored (generate, renewal). */
  async issueFor(name: string, csr: ParsedCsr, opts: SignOptions): Promise<ParsedCertificate> {
    validateCertname(name);
    await this.store.putRequest(name, csrToPem(csr.der), requestEntry(name, csr));
    return this.signParsed(name, csr, opts);
  }

  // ------------------------------------------------------------------ revocation

  /** Revokes each name's certificate in one CRL update. Already-revoked names succeed, as in Puppet. */
  async revoke(names: string[], actor: Actor): Promise<{ name: string; error?: CaError }[]> {
    const results: { name: string; error?: CaError; serial?: bigint }[] = [];
    for (const name of names) {
      try {
        validateCertname(name);
        const { certificate } = await this.store.getIndexEntry(name, summarize);
        if (!certificate?.serial) {
          const { request } = await this.store.getIndexEntry(name, summarize);
          throw request
            ? new CaError("conflict", `Cannot revoke certificate for host ${name} without a signed certificate`)
            : new CaError("not-found", `Could not find certificate for ${name}`);
        }
        results.push({ name, serial: certificate.serial });
      } catch (e) {
        if (!(e instanceof CaError)) throw e;
        results.push({ name, error: e });
      }
    }
    const found = results.filter((r) => r.serial !== undefined);
    if (found.length > 0) await this.revokeSerials(found.map((r) => r.serial!), found.map((r) => r.name));
    for (const r of results) if (!r.error) this.audit({ event: "revoked", name: r.name, actor, serial: r.serial!.toString(16).toUpperCase() });
    return results.map(({ name, error }) => ({ name, error }));
  }

  /**
   * Appends serials to the CRL under the lock: one signature, no per-entry re-encoding.
   * The current certificates of `names` are looked up again under the lock and revoked too:
   * a renewal committed after the caller read a serial would otherwise outlive the revoke.
   */
  async revokeSerials(serials: bigint[], names: string[] = []): Promise<void> {
    await this.store.withLock(async () => {
      const ca = await this.current(true);
      const current = await Promise.all(names.map(async (name) => (await this.store.getIndexEntry(name, summarize)).certificate?.serial));
      const all = [...new Set([...serials, ...current.filter((s): s is bigint => s !== undefined)])];
      const now = this.clock();
      const next = new Date(now);
      next.setUTCFullYear(next.getUTCFullYear() + CRL_YEARS);
      const state = withRevocations(ca.crl, all.map((serial) => ({ serial, when: now })), now, next);
      if (state === ca.crl) return;
      const published = await publishCrl(this.store, state, ca.key, ca.crlEncoded);
      this.material = { ...ca, crl: state, crlEncoded: published, raw: { ...ca.raw, crlPem: published.pem.toString("latin1") }, version: await this.store.materialVersion() };
    });
  }

  /**
   * `clean`: revoke if signed (and not yet revoked), then remove the certificate and, when
   * `removeRequest`, the pending request, so the node can enroll again.
   */
  async clean(names: string[], actor: Actor, removeRequest = true): Promise<{ name: string; error?: CaError }[]> {
    const out: { name: string; error?: CaError }[] = [];
    const toRevoke: bigint[] = [];
    const found: string[] = [];
    for (const name of names) {
      try {
        validateCertname(name);
        const { certificate, request } = await this.store.getIndexEntry(name, summarize);
        if (!certificate && !(removeRequest && request)) throw new CaError("not-found", `Could not find files to clean for ${name}`);
        if (certificate?.serial !== undefined) toRevoke.push(certificate.serial);
        found.push(name);
        out.push({ name });
      } catch (e) {
        if (!(e instanceof CaError)) throw e;
        out.push({ name, error: e });
      }
    }
    if (toRevoke.length > 0) await this.revokeSerials(toRevoke, found);
    for (const name of found) {
      await this.store.withLock(async () => {
        await this.store.deleteCertificate(name);
        if (removeRequest) await this.store.deleteRequest(name);
      });
      this.audit({ event: "cleaned", name, actor });
    }
    return out;
  }

  /** DELETE certificate_status: removes the files without revoking, as Puppet does. */
  async deleteStatus(name: string, actor: Actor): Promise<void> {
    validateCertname(name);
    const a = await this.store.deleteCertificate(name);
    const b = await this.store.deleteRequest(name);
    if (!a && !b) throw new CaError("not-found", "Resource not found.");
    this.audit({ event: "deleted", name, actor });
  }

  /** Drops a pending request only (the server's admin DELETE certificate_request). */
  async deleteRequest(name: string, actor: Actor): Promise<void> {
    validateCertname(name);
    if (!(await this.store.deleteRequest(name))) throw new CaError("not-found", `Could not find certificate_request ${name}`);
    this.audit({ event: "deleted", name, actor, detail: "request" });
  }

  // ------------------------------------------------------------------ reading

  async getCertificatePem(name: string): Promise<string> {
    if (name === "ca") return this.caCertificatePem();
    validateCertname(name);
    const pem = await this.store.getCertificate(name);
    if (!pem) throw new CaError("not-found", `Could not find certificate ${name}`);
    return pem;
  }

  private async certState(e: IndexEntry): Promise<CertState> {
    if (e.state === "requested") return "requested";
    return e.serial !== undefined && (await this.revokedSerials()).has(e.serial) ? "revoked" : "signed";
  }

  /** One name's status; the certificate wins over a request, as in Puppet. */
  async status(name: string): Promise<CertStatus> {
    validateCertname(name);
    const { request, certificate } = await this.store.getIndexEntry(name, summarize);
    const e = certificate ?? request;
    if (!e) throw new CaError("not-found", "Resource not found.");
    const pem = e === certificate ? await this.store.getCertificate(name) : await this.store.getRequest(name);
    const der = pem ? Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64") : undefined;
    return statusOf(e, await this.certState(e), der ? { SHA1: fingerprint(der, "sha1"), SHA512: fingerprint(der, "sha512") } : undefined);
  }

  /** Every request and certificate, sorted by name; `state` filters. Served from the index. */
  async statuses(state?: CertState): Promise<CertStatus[]> {
    return (await this.entries(state)).map(({ entry, state: s }) => statusOf(entry, s));
  }

  /**
   * The index entries with their state, sorted by name, without building status objects:
   * `list` prints four fields of each, and formatting two dates per entry was a fifth of
   * the time of listing 100,000.
   */
  async entries(state?: CertState): Promise<{ entry: IndexEntry; state: CertState }[]> {
    const revoked = await this.revokedSerials();
    const out: { entry: IndexEntry; state: CertState }[] = [];
    for (const e of await this.store.listIndex(summarize)) {
      const s: CertState = e.state === "requested" ? "requested" : e.serial !== undefined && revoked.has(e.serial) ? "revoked" : "signed";
      if (!state || s === state) out.push({ entry: e, state: s });
    }
    return out;
  }

  async expirations(): Promise<{ "ca-certs": Record<string, string>; crls: Record<string, string> }> {
    const ca = await this.current();
    const certs: Record<string, string> = {};
    for (const c of ca.chain) certs[c.commonName] = puppetDate(c.notAfter);
    return { "ca-certs": certs, crls: { [ca.cert.commonName]: puppetDate(ca.crl.nextUpdate) } };
  }

  /** Checks a stored certificate: issued by this CA (signature), within its validity, not revoked. */
  async verifyCertificate(name: string): Promise<VerifyResult> {
    const cert = parseCertificatePem(await this.getCertificatePem(name));
    const ca = await this.current();
    const problems: string[] = [];
    if (!cert.issuerDer.equals(ca.cert.subjectDer) || !verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, ca.cert.spki)) {
      problems.push("it is not signed by this CA's key");
    }
    const now = this.clock();
    if (now < cert.notBefore) problems.push(`it is not valid until ${cert.notBefore.toISOString()}`);
    if (now > cert.notAfter) problems.push(`it expired at ${cert.notAfter.toISOString()}`);
    if (ca.crl.serials.has(cert.serial)) problems.push("it is revoked (listed in the CRL)");
    return { name, ok: problems.length === 0, problems };
  }

  /** A fresh certificate for the holder of `current`: same name, key and extensions, new serial and validity. */
  async renew(current: ParsedCertificate, actor: Actor): Promise<ParsedCertificate> {
    const name = validateCertname(current.commonName);
    const ca = await this.current();
    if (!current.issuerDer.equals(ca.cert.subjectDer)) throw new CaError("invalid-request", "The certificate to renew was not issued by this CA.");
    if (ca.crl.serials.has(current.serial)) throw new CaError("invalid-request", `The certificate for ${name} is revoked and cannot be renewed.`);
    const now = this.clock();
    const serial = await this.store.withLock(() => this.store.allocateSerial());
    const copied = current.extensions.filter((e) => e.oid.startsWith("1.3.6.1.4.1.34380.1."));
    const der = await issueCertificate(
      {
        serial, issuer: ca.cert.subjectDer, subject: cnName(name), notBefore: new Date(now.getTime() - DAY_MS),
        notAfter: new Date(now.getTime() + this.settings.caTtl * 1000), spki: current.spki,
        extensions: leafExtensions({ commonName: name, spki: current.spki, altNames: current.altNames, copied, caSpki: ca.cert.spki, caIssuerDer: ca.cert.issuerDer, caSerial: ca.cert.serial }),
      },
      ca.key,
    );
    const cert = parseCertificatePem(certToPem(der));
    await this.store.withLock(async () => {
      // A revoke or clean may have run while this was signed: replace only a certificate that
      // is still the name's current one and still unrevoked, or the node outlives its revocation.
      const revoked = (await this.current(true)).crl.serials.has(current.serial);
      const stored = await this.store.getCertificate(name);
      if (revoked || !stored || parseCertificatePem(stored).serial !== current.serial) {
        throw new CaError("conflict", `The certificate for ${name} was revoked, cleaned or replaced while it was being renewed; the renewed certificate was discarded.`);
      }
      await this.store.putCertificate(name, certToPem(der), { serial, notBefore: cert.notBefore, notAfter: cert.notAfter, subject: slashName(cert.subject) }, certificateEntry(name, cert));
    });
    this.audit({ event: "signed", name, actor, serial: serial.toString(16).toUpperCase(), detail: "renewal" });
    return cert;
  }
}

export { SYSTEM as SYSTEM_ACTOR };

/** The result of checking one issued certificate against the CA and its CRL. */
export interface VerifyResult {
  name: string;
  ok: boolean;
  problems: string[];
}
