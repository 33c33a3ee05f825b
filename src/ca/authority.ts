/**
 * The certificate authority's operations. Every signing path (autosign, CLI, API, console)
 * ends here; transports decode input and render output, nothing more. Every operation takes
 * the principal acting (principal.ts); every change and refusal is audited through the store
 * and metered (audit.ts).
 */
import { encodeAltNames, AltNameError } from "../pki/altnames.js";
import { parseCertificatePem, verifySignedBy, type ParsedCertificate } from "../pki/certificate.js";
import { parseCsrPem, verifyCsrSignature, CsrError, type ParsedCsr } from "../pki/csr.js";
import { fingerprint } from "../pki/fingerprint.js";
import { auditRecord, NO_METER, type AuditAction, type AuditQuery, type AuditRecord, type Meter, type Outcome } from "./audit.js";
import { AUTOSIGN_OFF, type Autosigner } from "./autosign.js";
import { CaError } from "./errors.js";
import { Issuer, type IssueSource } from "./issue.js";
import { loadMaterial, type LoadedMaterial } from "./material.js";
import { isValidCertname, validateCertname } from "./names.js";
import { checkSigningPolicy } from "./policy.js";
import { systemPrincipal, type Principal } from "./principal.js";
import { Revoker, type RevokeTarget } from "./revoke.js";
import { DEFAULT_REASON, type RevocationReason, type RevocationRecord } from "./revocation.js";
import { puppetDate, statusOf, type CertState, type CertStatus } from "./status.js";
import { SigningBatches } from "./signing-batches.js";
import type { CaStore, IndexEntry } from "./store.js";
import { requestEntry, summarize } from "./summarize.js";

/**
 * Certificates in flight in signMany. Signatures are limited to one per core (pki/keys.ts);
 * the rest wait on a serial or on the store, and the store commits what is waiting in one
 * batch. With 8 the signing cores sat idle while requests waited on fsyncs; 32 keeps them fed.
 */
const SIGN_MANY_IN_FLIGHT = 32;

export interface CaSettings {
  /** Seconds a certificate is valid by default (Puppet's ca_ttl). */
  caTtl: number;
  allowSubjectAltNames: boolean;
  allowAuthorizationExtensions: boolean;
  allowDuplicateCerts: boolean;
}

export interface CaDeps {
  store: CaStore;
  settings: CaSettings;
  clock?: () => Date;
  autosigner?: Autosigner;
  /** Called on every outcome; default: nothing (metrics attach here). */
  meter?: Meter;
  /** Sees every audit record once it is durable (the server writes them to its log too). */
  observe?: (r: AuditRecord) => void;
  /** Take serials in blocks (a long-running server; see serial-reserve.ts). */
  reserveSerials?: boolean;
}

export interface SignOptions {
  by: Principal;
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

/** One name's result in a command over many names. */
export interface NameResult {
  name: string;
  error?: CaError;
}

export class CertificateAuthority {
  readonly store: CaStore;
  private readonly settings: CaSettings;
  private readonly clock: () => Date;
  private readonly autosigner: Autosigner;
  private readonly meter: Meter;
  private readonly observe: (r: AuditRecord) => void;
  private material?: LoadedMaterial;
  private readonly issuer: Issuer;
  private readonly revoker: Revoker;
  private lastVersionCheck = 0;

  constructor(deps: CaDeps) {
    this.store = deps.store;
    this.settings = deps.settings;
    this.clock = deps.clock ?? (() => new Date());
    this.autosigner = deps.autosigner ?? AUTOSIGN_OFF;
    this.meter = deps.meter ?? NO_METER;
    this.observe = deps.observe ?? (() => undefined);
    const batches = new SigningBatches(this.store, { reserveSerials: deps.reserveSerials });
    this.issuer = new Issuer({
      store: this.store, settings: this.settings, clock: this.clock, meter: this.meter, batches,
      material: () => this.current(), observe: this.observe,
    });
    this.revoker = new Revoker({
      store: this.store, clock: this.clock, material: () => this.current(true),
      published: (m) => void (this.material = m),
    });
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

  // ------------------------------------------------------------------ audit

  /** Appends records for a change already made (or refused), meters and observes them. */
  private async audited(records: AuditRecord[], alreadyDurable = false): Promise<void> {
    if (records.length === 0) return;
    if (!alreadyDurable) await this.store.appendAudit(records);
    for (const r of records) {
      this.meter.outcome(r.action, r.outcome, r.whoKind);
      this.observe(r);
    }
  }

  private record(action: AuditAction, by: Principal, what: { names?: string[]; serials?: bigint[]; outcome?: Outcome; reason?: string; detail?: string }): AuditRecord {
    return auditRecord(this.clock(), action, by, what);
  }

  /** Audits an event decided at an edge (settings reloaded, CA set up or imported). */
  async recordEvent(action: AuditAction, by: Principal, what: { names?: string[]; serials?: bigint[]; detail?: string } = {}): Promise<void> {
    await this.audited([this.record(action, by, what)]);
  }

  /** The audit log, oldest first. */
  auditLog(query: AuditQuery): Promise<AuditRecord[]> {
    return this.store.readAudit(query);
  }

  /**
   * Runs `fn`; a CaError it throws is audited as a refusal of `action` for `names` (the caller
   * learns why, and so does the trail), then thrown on.
   */
  private async refusalsAudited<T>(action: AuditAction, by: Principal, names: string[], fn: () => Promise<T>, detail?: string): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof CaError) await this.audited([this.record(action, by, { names: names.filter(isValidCertname), outcome: "refused", reason: e.message, detail })]);
      throw e;
    }
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
   * An autosigned submission is one "signed" record (by autosign, from the submitter's
   * address); any other outcome is a "submitted" record, refusals with their reason.
   */
  async submitRequest(name: string, csrPem: string, by: Principal): Promise<SubmitResult> {
    const csr = await this.refusalsAudited("submitted", by, [name], async () => {
      // The name is checked first, before it can reach a path or a query; then Puppet's order:
      // the duplicate check by the CSR's CN comes before the CN/name comparison.
      validateCertname(name);
      const parsed = this.parseRequest(csrPem);
      if (isValidCertname(parsed.commonName)) await this.checkDuplicate(parsed.commonName);
      if (parsed.commonName !== name) {
        throw new CaError("hostname-mismatch", `Instance name ${JSON.stringify(parsed.commonName)} does not match requested key ${JSON.stringify(name)}`);
      }
      return parsed;
    });
    const decision = await this.autosigner.decide(name, csrPem);
    const autosign = systemPrincipal("autosign", by.from);
    if (decision.sign && this.passesSigningPolicy(name, csr)) {
      // Signed straight from the submission: storing the request only to delete it a moment
      // later cost three durable file operations per enrollment (bench/results, enroll-*).
      await this.issueFrom(name, csr, { kind: "submission" }, { by: autosign }, `${decision.reason}; submitted by ${by.name || "anonymous"}`);
      return { state: "signed", autosign: decision };
    }
    const submitted = this.record("submitted", by, { names: [name], detail: `${fingerprint(csr.der)}; autosign: ${decision.reason}` });
    await this.store.putRequest(name, csrPem, requestEntry(name, csr), submitted);
    await this.audited([submitted], true);
    if (!decision.sign) return { state: "requested", autosign: decision };
    // Autosign said yes but the request breaks the signing policy: as Puppet does, it stays
    // pending and the submitter is told why (the issuing path throws the policy's CaError).
    await this.issueFrom(name, csr, { kind: "request" }, { by: autosign }, decision.reason);
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

  /** Signs the pending request of `name`. */
  async sign(name: string, opts: SignOptions): Promise<ParsedCertificate> {
    const csr = await this.refusalsAudited("signed", opts.by, [name], async () => {
      validateCertname(name);
      const pem = await this.store.getRequest(name);
      if (!pem) {
        const { certificate } = await this.store.getIndexEntry(name, summarize);
        if (certificate) throw new CaError("conflict", `Cannot sign certificate for host ${name} without a certificate request`);
        throw new CaError("not-found", `Could not find certificate request for ${name}`);
      }
      return this.parseRequest(pem);
    });
    return this.issueFrom(name, csr, { kind: "request" }, opts);
  }

  /** Signs every pending request; one result per name, in name order. */
  async signAll(opts: SignOptions, onProgress?: (done: number, total: number) => void): Promise<NameResult[]> {
    const pending = (await this.store.listIndex(summarize)).filter((e) => e.state === "requested").map((e) => e.name);
    return this.signMany(pending, opts, onProgress);
  }

  /** Signs names with bounded concurrency so both cores sign (the signature runs on the libuv pool). */
  async signMany(names: string[], opts: SignOptions, onProgress?: (done: number, total: number) => void): Promise<NameResult[]> {
    const results: NameResult[] = names.map((name) => ({ name }));
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

  private issueFrom(name: string, csr: ParsedCsr, source: IssueSource, opts: SignOptions, detail?: string): Promise<ParsedCertificate> {
    return this.issuer.issue({
      name, spki: csr.spki, altNames: csr.altNames, extensions: csr.extensions, source, by: opts.by,
      allowDnsAltNames: opts.allowDnsAltNames, ttlSeconds: opts.ttlSeconds, cliAuth: opts.cliAuth, detail,
    });
  }

  /**
   * `generate`: a certificate for a key the caller made (a system without an agent). The
   * duplicate rule is the same as for a submission: refused while the name has a request or
   * a certificate, unless allow_duplicate_certs.
   */
  async issueGenerated(name: string, csr: ParsedCsr, opts: SignOptions): Promise<ParsedCertificate> {
    await this.assertCanGenerate(name, opts.by);
    return this.issueFrom(name, csr, { kind: "generate" }, opts);
  }

  /** Refuses (and audits) a `generate` for a name that is taken, before any key is made. */
  async assertCanGenerate(name: string, by: Principal): Promise<void> {
    await this.refusalsAudited("generated", by, [name], async () => {
      validateCertname(name);
      if (this.settings.allowDuplicateCerts) return;
      const { request, certificate } = await this.store.getIndexEntry(name, summarize);
      if (request || certificate) {
        const state = certificate ? await this.certState(certificate) : "requested";
        throw new CaError("duplicate-cert", `${name} already has a ${state} certificate; run \`fleetca ca clean ${name}\` first if you really want a new one`);
      }
    });
  }

  /** A fresh certificate for the holder of `current`: same name, key and extensions, new serial and validity. */
  async renew(current: ParsedCertificate, by: Principal): Promise<ParsedCertificate> {
    const name = current.commonName;
    await this.refusalsAudited("renewed", by, [name], async () => {
      validateCertname(name);
      const ca = await this.current();
      if (!current.issuerDer.equals(ca.cert.subjectDer)) throw new CaError("invalid-request", "The certificate to renew was not issued by this CA.");
      if (ca.crl.serials.has(current.serial)) throw new CaError("invalid-request", `The certificate for ${name} is revoked and cannot be renewed.`);
    });
    return this.issuer.issue({
      name, spki: current.spki, altNames: current.altNames, extensions: current.extensions,
      source: { kind: "renewal", replaces: current.serial }, by,
    });
  }

  // ------------------------------------------------------------------ revocation

  /**
   * Revokes each name's certificate in one locked step: records, audit, one CRL signature.
   * Already-revoked names succeed, as in Puppet.
   */
  async revoke(names: string[], by: Principal, reason: RevocationReason = DEFAULT_REASON): Promise<NameResult[]> {
    return this.store.withLock(async () => {
      const results: NameResult[] = [];
      const targets: RevokeTarget[] = [];
      const audit: AuditRecord[] = [];
      for (const name of names) {
        try {
          validateCertname(name);
          const { certificate, request } = await this.store.getIndexEntry(name, summarize);
          if (certificate?.serial === undefined) {
            throw request
              ? new CaError("conflict", `Cannot revoke certificate for host ${name} without a signed certificate`)
              : new CaError("not-found", `Could not find certificate for ${name}`);
          }
          targets.push({ serial: certificate.serial, name });
          audit.push(this.record("revoked", by, { names: [name], serials: [certificate.serial], detail: reason }));
          results.push({ name });
        } catch (e) {
          if (!(e instanceof CaError)) throw e;
          audit.push(this.record("revoked", by, { names: isValidCertname(name) ? [name] : [], outcome: "refused", reason: e.message }));
          results.push({ name, error: e });
        }
      }
      await this.revoker.revokeLocked(targets, by, reason, audit);
      await this.audited(audit, true);
      return results;
    });
  }

  /** Revokes certificates by serial (whatever name holds them now, or held them). */
  async revokeSerials(serials: bigint[], by: Principal, reason: RevocationReason = DEFAULT_REASON): Promise<RevocationRecord[]> {
    return this.store.withLock(async () => {
      const names = await this.namesOfSerials(serials);
      const targets: RevokeTarget[] = serials.map((serial) => ({ serial, name: names.get(serial) ?? "" }));
      const audit = targets.map((t) => this.record("revoked", by, { names: t.name ? [t.name] : [], serials: [t.serial], detail: reason }));
      const records = await this.revoker.revokeLocked(targets, by, reason, audit);
      await this.audited(audit, true);
      return records;
    });
  }

  /** Puts into the CRL every revocation record it lacks (after a crash between the two). */
  async repairCrl(): Promise<number> {
    return this.store.withLock(() => this.revoker.repairLocked());
  }

  /**
   * `clean`: in one locked step, revoke if signed (and not yet revoked), then remove the
   * certificate and, when `removeRequest`, the pending request, so the node can enroll again.
   */
  async clean(names: string[], by: Principal, removeRequest = true): Promise<NameResult[]> {
    return this.store.withLock(async () => {
      const out: NameResult[] = [];
      const targets: RevokeTarget[] = [];
      const found: { name: string; serial?: bigint }[] = [];
      const refusals: AuditRecord[] = [];
      for (const name of names) {
        try {
          validateCertname(name);
          const { certificate, request } = await this.store.getIndexEntry(name, summarize);
          if (!certificate && !(removeRequest && request)) throw new CaError("not-found", `Could not find files to clean for ${name}`);
          if (certificate?.serial !== undefined) targets.push({ serial: certificate.serial, name });
          found.push({ name, serial: certificate?.serial });
          out.push({ name });
        } catch (e) {
          if (!(e instanceof CaError)) throw e;
          refusals.push(this.record("cleaned", by, { names: isValidCertname(name) ? [name] : [], outcome: "refused", reason: e.message }));
          out.push({ name, error: e });
        }
      }
      await this.revoker.revokeLocked(targets, by, DEFAULT_REASON, refusals);
      await this.audited(refusals, true);
      for (const { name } of found) {
        await this.store.deleteCertificate(name);
        if (removeRequest) await this.store.deleteRequest(name);
      }
      await this.audited(found.map(({ name, serial }) => this.record("cleaned", by, { names: [name], serials: serial === undefined ? [] : [serial] })));
      return out;
    });
  }

  /** DELETE certificate_status: removes the files without revoking, as Puppet does. */
  async deleteStatus(name: string, by: Principal): Promise<void> {
    await this.refusalsAudited("deleted", by, [name], () =>
      this.store.withLock(async () => {
        validateCertname(name);
        const a = await this.store.deleteCertificate(name);
        const b = await this.store.deleteRequest(name);
        if (!a && !b) throw new CaError("not-found", "Resource not found.");
        await this.audited([this.record("deleted", by, { names: [name] })]);
      }),
    );
  }

  /** Drops a pending request only (the server's admin DELETE certificate_request; the console's reject). */
  async deleteRequest(name: string, by: Principal): Promise<void> {
    await this.refusalsAudited("rejected", by, [name], () =>
      this.store.withLock(async () => {
        validateCertname(name);
        if (!(await this.store.deleteRequest(name))) throw new CaError("not-found", `Could not find certificate_request ${name}`);
        await this.audited([this.record("rejected", by, { names: [name] })]);
      }),
    );
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

  /** The name a serial was issued to: its current holder, else the inventory's subject. */
  async nameOfSerial(serial: bigint): Promise<string | undefined> {
    return (await this.namesOfSerials([serial])).get(serial);
  }

  /** nameOfSerial for many serials, reading the inventory at most once. */
  async namesOfSerials(serials: readonly bigint[]): Promise<Map<bigint, string>> {
    const out = new Map<bigint, string>();
    const missing = new Set<bigint>();
    for (const serial of serials) {
      const current = await this.store.findBySerial(serial, summarize);
      if (current) out.set(serial, current.name);
      else missing.add(serial);
    }
    if (missing.size === 0) return out;
    for (const line of await this.store.readInventory()) {
      if (!missing.has(line.serial)) continue;
      const cn = /(?:^|\/)CN=([^/]+)/.exec(line.subject)?.[1];
      if (cn) out.set(line.serial, cn);
    }
    return out;
  }

  /** The revocation record of a serial, if it was revoked. */
  revocation(serial: bigint): Promise<RevocationRecord | undefined> {
    return this.store.getRevocation(serial);
  }

  /** Every revocation record, in the order recorded. */
  revocations(): Promise<RevocationRecord[]> {
    return this.store.listRevocations();
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
}

/** The result of checking one issued certificate against the CA and its CRL. */
export interface VerifyResult {
  name: string;
  ok: boolean;
  problems: string[];
}
