/**
 * The certificate authority's operations. Every signing path (autosign, CLI, API, console)
 * ends here; transports decode input and render output, nothing more. Every operation takes
 * the principal acting (principal.ts); every change and refusal is audited through the store
 * and metered (audit.ts).
 */
import { encodeAltNames, AltNameError } from "../pki/altnames.js";
import { verifySignedBy, type ParsedCertificate } from "../pki/certificate.js";
import { parseCsrPem, verifyCsrSignature, CsrError, type ParsedCsr } from "../pki/csr.js";
import { fingerprint } from "../pki/fingerprint.js";
import { auditRecord, NO_METER, type AuditAction, type AuditRecord, type Meter, type Outcome } from "./audit.js";
import { AUTOSIGN_OFF, type Autosigner } from "./autosign.js";
import { outerPemOf, planCrlUpdate, publishWithOuter, type CrlChainPlan } from "./crl-chain.js";
import { crlNextUpdate } from "./crl-hygiene.js";
import { CrlUpkeep, type PruneReport, type SerialResult } from "./crl-upkeep.js";
import { CaError } from "./errors.js";
import { Issuer, type IssuerSettings, type IssueSource } from "./issue.js";
import { activeOverlap, signedByOldCa } from "./lifecycle/rotation.js";
import { isValidCertname, trailingDotTwin, validateCertname } from "./names.js";
import { CaReader } from "./reader.js";
import { checkCa, type CheckReport } from "./check.js";
import { checkKeyPolicy } from "./key-policy.js";
import { removeSignedRequests, type SignedRequest } from "./recovery.js";
import { checkSigningPolicy } from "./policy.js";
import { systemPrincipal, type Principal } from "./principal.js";
import { Revoker, type RevokeTarget } from "./revoke.js";
import { SUPERSEDED_WINDOW, supersededDetail, supersessions, type Supersession } from "./superseded.js";
import { DEFAULT_REASON, type RevocationReason, type RevocationRecord } from "./revocation.js";
import { SigningBatches } from "./signing-batches.js";
import { twinOf, twinRefusal } from "./twin.js";
import { indexEntries, type CaStore, type InventoryEntry } from "./store.js";
import { requestEntry, summarize } from "./summarize.js";

/**
 * Certificates in flight in signMany. Signatures are limited to one per core (pki/keys.ts);
 * the rest wait on a serial or on the store, and the store commits what is waiting in one
 * batch. With 8 the signing cores sat idle while requests waited on fsyncs; 32 keeps them fed.
 */
const SIGN_MANY_IN_FLIGHT = 32;
/** Signed certificates signMany stores in one step (SigningBatches.bulk): half in flight, so the other half keeps the cores signing meanwhile. */
const SIGN_MANY_BATCH = SIGN_MANY_IN_FLIGHT / 2;

/** What the issuing path reads (issue.ts: ca_ttl, the policy switches, where to ask), and more. */
export interface CaSettings extends IssuerSettings {
  /** Seconds each CRL is valid (crl_ttl); default Puppet's five years (crl-hygiene.ts). */
  crlTtl?: number;
  /** A CRL signed again because it is due (refreshCrl) also drops the entries of expired certificates. */
  autoPrune?: boolean;
  /** Names that are administrators by name (admin_allow_list): never autosigned, whatever autosign says. */
  adminAllowList?: readonly string[];
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

/** The CA's changes; what it reads is in CaReader (reader.ts), which it extends. */
export class CertificateAuthority extends CaReader {
  private readonly settings: CaSettings;
  private readonly autosigner: Autosigner;
  private readonly meter: Meter;
  private readonly observe: (r: AuditRecord) => void;
  private readonly issuer: Issuer;
  private readonly batches: SigningBatches;
  private readonly revoker: Revoker;
  private readonly upkeep: CrlUpkeep;

  constructor(deps: CaDeps) {
    super(deps.store, deps.clock ?? (() => new Date()));
    this.settings = deps.settings;
    this.autosigner = deps.autosigner ?? AUTOSIGN_OFF;
    this.meter = deps.meter ?? NO_METER;
    this.observe = deps.observe ?? (() => undefined);
    const batches = new SigningBatches(this.store, { reserveSerials: deps.reserveSerials });
    this.batches = batches;
    this.issuer = new Issuer({
      store: this.store, settings: this.settings, clock: this.clock, meter: this.meter, batches,
      material: () => this.current(), observe: this.observe,
    });
    this.revoker = new Revoker({
      store: this.store, clock: this.clock, material: () => this.current(true),
      published: (m) => this.keep(m), nextUpdate: (now) => crlNextUpdate(now, this.settings.crlTtl),
    });
    this.upkeep = new CrlUpkeep({
      store: this.store, clock: this.clock, settings: this.settings, revoker: this.revoker, current: (force) => this.current(force),
      namesOfSerials: (serials) => this.namesOfSerials(serials), record: (action, by, what) => this.record(action, by, what),
      audited: (records, durable) => this.audited(records, durable),
    });
  }

  // ------------------------------------------------------------------ audit

  /** Appends records for a change already made (or refused), meters and observes them. */
  private async audited(records: AuditRecord[], alreadyDurable = false, reason?: string): Promise<void> {
    if (records.length === 0) return;
    if (!alreadyDurable) await this.store.appendAudit(records);
    for (const r of records) {
      this.meter.outcome(r.action, r.outcome, r.whoKind, r.outcome === "refused" ? reason : undefined);
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

  /**
   * Runs `fn`; a CaError it throws is audited as a refusal of `action` for `names` (the caller
   * learns why, and so does the trail), then thrown on.
   */
  private async refusalsAudited<T>(action: AuditAction, by: Principal, names: string[], fn: () => Promise<T>, detail?: string | (() => string | undefined)): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const detailText = typeof detail === "function" ? detail() : detail;
      if (e instanceof CaError) await this.audited([this.record(action, by, { names: names.filter(isValidCertname), outcome: "refused", reason: e.message, detail: detailText })], false, e.kind);
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
    checkKeyPolicy(csr.commonName, csr.spki, this.settings);
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
    // Set when a request with another key is refused because one is pending: a node that lost its key (superseded.ts).
    let superseding: string | undefined;
    const csr = await this.refusalsAudited("submitted", by, [name], async () => {
      // The name is checked first, before it can reach a path or a query; then Puppet's order:
      // the duplicate check by the CSR's CN comes before the CN/name comparison.
      validateCertname(name);
      const parsed = this.parseRequest(csrPem);
      if (isValidCertname(parsed.commonName)) {
        try {
          await this.checkDuplicate(parsed.commonName);
        } catch (e) {
          if (parsed.commonName === name) superseding = await this.supersedingDetail(name, fingerprint(parsed.der));
          throw e;
        }
      }
      if (parsed.commonName !== name) {
        throw new CaError("hostname-mismatch", `Instance name ${JSON.stringify(parsed.commonName)} does not match requested key ${JSON.stringify(name)}`);
      }
      return parsed;
    }, () => superseding);
    const decision = await this.autosignDecision(name, csrPem);
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

  /** The audit detail naming both fingerprints, when `name` has a pending request with another key than `sha256`. */
  private async supersedingDetail(name: string, sha256: string): Promise<string | undefined> {
    const { request } = await this.store.getIndexEntry(name, summarize);
    return request && request.sha256 !== sha256 ? supersededDetail(request.sha256, sha256) : undefined;
  }

  /**
   * Pending requests superseded by a refused newer request with another key (a node that lost its key), by name:
   * from the most recent submission records, kept only where the pending request is still the one refused over.
   */
  async supersededRequests(names?: readonly string[]): Promise<Map<string, Supersession>> {
    const records = await this.store.readAudit({ action: "submitted", limit: SUPERSEDED_WINDOW });
    const found = supersessions(records);
    const wanted = names ? new Set(names) : undefined;
    const out = new Map<string, Supersession>();
    for (const [name, s] of found) {
      if (wanted && !wanted.has(name)) continue;
      const { request } = await this.store.getIndexEntry(name, summarize);
      if (request?.sha256 === s.pending) out.set(name, s);
    }
    return out;
  }

  /**
   * Autosign's answer, except for a name on admin_allow_list (or its trailing-dot twin): that
   * certificate is an administrator's, so an operator signs it by hand, whatever autosign says.
   */
  private async autosignDecision(name: string, csrPem: string): Promise<{ sign: boolean; reason: string }> {
    const admins = this.settings.adminAllowList ?? [];
    if (admins.includes(name) || admins.includes(trailingDotTwin(name))) {
      return { sign: false, reason: `${name} is on admin_allow_list: an administrator's certificate is signed by hand (fleetca ca sign ${name})` };
    }
    return this.autosigner.decide(name, csrPem);
  }

  private async checkDuplicate(name: string): Promise<void> {
    if (!name) return;
    // The name and its trailing-dot twin (twin.ts) from one look at the index.
    const twin = twinOf(name);
    const names = [...(twin === undefined ? [] : [twin]), ...(this.settings.allowDuplicateCerts ? [] : [name])];
    const found = await indexEntries(this.store, names, summarize);
    if (twin !== undefined) {
      const held = found.shift()!;
      if (held.certificate) throw twinRefusal(name, twin, "signed certificate");
      if (held.request) throw twinRefusal(name, twin, "certificate request");
    }
    if (this.settings.allowDuplicateCerts) return;
    const { request, certificate } = found[0]!;
    if (request) throw new CaError("duplicate-cert", `${name} already has a requested certificate; ignoring certificate request`);
    if (certificate) {
      const state = await this.certState(certificate);
      throw new CaError("duplicate-cert", `${name} already has a ${state} certificate; ignoring certificate request`);
    }
  }

  // ------------------------------------------------------------------ signing

  /** Signs the pending request of `name`. */
  async sign(name: string, opts: SignOptions): Promise<ParsedCertificate> {
    const request = await this.refusalsAudited("signed", opts.by, [name], async () => {
      validateCertname(name);
      const pem = await this.store.getRequest(name);
      if (!pem) {
        const { certificate } = await this.store.getIndexEntry(name, summarize);
        if (certificate) throw new CaError("conflict", `Cannot sign certificate for host ${name} without a certificate request`);
        throw new CaError("not-found", `Could not find certificate request for ${name}`);
      }
      return { csr: this.parseRequest(pem), pem };
    });
    // The bytes signed go with the certificate: its commit checks, under the lock, that they are still the request.
    return this.issueFrom(name, request.csr, { kind: "request", pem: request.pem }, opts);
  }

  /** Signs every pending request; one result per name, in name order. */
  async signAll(opts: SignOptions, onProgress?: (done: number, total: number) => void): Promise<NameResult[]> {
    const pending = (await this.store.listIndex(summarize)).filter((e) => e.state === "requested").map((e) => e.name);
    // Both spellings of one host pending (names.ts): the one without the dot is signed first
    // and its twin after, so the twin check sees the certificate instead of racing it.
    const waiting = new Set(pending);
    const later = pending.filter((n) => n.endsWith(".") && waiting.has(trailingDotTwin(n)));
    if (later.length === 0) return this.signMany(pending, opts, onProgress);
    const first = pending.filter((n) => !later.includes(n));
    const total = pending.length;
    const a = await this.signMany(first, opts, onProgress && ((done) => onProgress(done, total)));
    const b = await this.signMany(later, opts, onProgress && ((done) => onProgress(first.length + done, total)));
    const byName = new Map([...a, ...b].map((r) => [r.name, r]));
    return pending.map((n) => byName.get(n)!);
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
        done++;
        // One fewer certificate to come: a commit gathering for it stops waiting.
        this.batches.recheck();
        onProgress?.(done, names.length);
      }
    };
    await this.batches.bulk(SIGN_MANY_BATCH, () => names.length - done, () =>
      Promise.all(Array.from({ length: Math.min(SIGN_MANY_IN_FLIGHT, names.length) }, worker)),
    );
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

  /**
   * A delegated OCSP responder certificate (id-kp-OCSPSigning, ocsp-nocheck; pki/profile.ts)
   * for a key the caller holds, valid `ttlSeconds`; it replaces the name's previous one.
   */
  async issueOcspResponder(name: string, spki: Buffer, opts: { by: Principal; ttlSeconds: number }): Promise<ParsedCertificate> {
    validateCertname(name);
    return this.issuer.issue({
      name, spki, altNames: [], extensions: [], source: { kind: "ocsp-responder" }, by: opts.by, ttlSeconds: opts.ttlSeconds,
      detail: "OCSP responder certificate",
    });
  }

  /** A fresh certificate for the holder of `current`: same name, key and extensions, new serial and validity. */
  async renew(current: ParsedCertificate, by: Principal): Promise<ParsedCertificate> {
    const name = current.commonName;
    await this.refusalsAudited("renewed", by, [name], async () => {
      validateCertname(name);
      const ca = await this.current();
      if (!verifySignedBy(current.tbs, current.signatureOid, current.signature, ca.cert.spki) || !current.issuerDer.equals(ca.cert.subjectDer)) {
        // During a rotation's overlap a certificate of the old CA is renewed into one of the new CA.
        const overlap = await activeOverlap(this.store, this.clock());
        if (!overlap || !signedByOldCa(current, overlap)) throw new CaError("invalid-request", "The certificate to renew was not issued by this CA.");
        if (overlap.oldRevoked.has(current.serial)) throw new CaError("invalid-request", `The certificate for ${name} is revoked and cannot be renewed.`);
      }
      if (ca.crl.serials.has(current.serial)) throw new CaError("invalid-request", `The certificate for ${name} is revoked and cannot be renewed.`);
    });
    return this.issuer.issue({
      name, spki: current.spki, altNames: current.altNames, extensions: current.extensions,
      source: { kind: "renewal", replaces: current.serial }, by,
    });
  }

  // ------------------------------------------------------------------ revocation

  /**
   * Runs `step` for each name after checking it: one result per name, in order. A CaError
   * becomes that name's error and a refused `action` record in `audit`; anything else is a bug
   * and is thrown.
   */
  private async eachName(names: string[], action: AuditAction, by: Principal, audit: AuditRecord[], step: (name: string) => Promise<void>): Promise<NameResult[]> {
    const results: NameResult[] = [];
    for (const name of names) {
      try {
        validateCertname(name);
        await step(name);
        results.push({ name });
      } catch (e) {
        if (!(e instanceof CaError)) throw e;
        audit.push(this.record(action, by, { names: isValidCertname(name) ? [name] : [], outcome: "refused", reason: e.message }));
        results.push({ name, error: e });
      }
    }
    return results;
  }

  /**
   * Revokes each name's certificate in one locked step: records, audit, one CRL signature.
   * Already-revoked names succeed, as in Puppet.
   */
  async revoke(names: string[], by: Principal, reason: RevocationReason = DEFAULT_REASON): Promise<NameResult[]> {
    return this.store.withLock(async () => {
      const targets: RevokeTarget[] = [];
      const audit: AuditRecord[] = [];
      const issued = await this.unexpiredByName(names);
      const results = await this.eachName(names, "revoked", by, audit, async (name) => {
        const { certificate, request } = await this.store.getIndexEntry(name, summarize);
        const serials = serialsOf(name, certificate?.serial, issued);
        if (serials.length === 0) {
          throw request
            ? new CaError("conflict", `Cannot revoke certificate for host ${name} without a signed certificate`)
            : new CaError("not-found", `Could not find certificate for ${name}`);
        }
        for (const serial of serials) targets.push({ serial, name });
        audit.push(this.record("revoked", by, { names: [name], serials, detail: reason }));
      });
      await this.revoker.revokeLocked(targets, by, reason, audit);
      await this.audited(audit, true);
      return results;
    });
  }

  /**
   * Serials of every certificate issued for each name, not expired nor revoked, from the inventory:
   * a renewal replaces the name's certificate file but the replaced certificate stays valid
   * until it expires, so revoking a name must revoke those too.
   */
  private async unexpiredByName(names?: readonly string[]): Promise<Map<string, bigint[]>> {
    const now = this.clock().getTime();
    // Those revoked already are left out: a name cleaned before is "not found", as in Puppet.
    const revoked = (await this.current(true)).crl.serials;
    const out = new Map<string, bigint[]>();
    // A store that can find a few names' lines (the file store) spares parsing the whole inventory.
    const store = this.store as CaStore & { readInventoryFor?: (names: readonly string[]) => Promise<InventoryEntry[]> };
    const lines = names && store.readInventoryFor ? await store.readInventoryFor(names) : await this.store.readInventory();
    for (const e of lines) {
      if (!e.subject.startsWith("/CN=") || e.notAfter.getTime() <= now || revoked.has(e.serial)) continue;
      const name = e.subject.slice(4);
      const list = out.get(name);
      if (list) list.push(e.serial);
      else out.set(name, [e.serial]);
    }
    return out;
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

  /** Revokes by serial as an operator asks for it, also when the file is gone (crl-upkeep.ts). */
  revokeBySerial(serials: bigint[], by: Principal, reason: RevocationReason = DEFAULT_REASON, opts: { force?: boolean } = {}): Promise<SerialResult[]> {
    return this.upkeep.revokeBySerial(serials, by, reason, opts);
  }

  /** Drops the CRL entries of expired certificates and signs it again; records stay (crl-upkeep.ts). */
  prune(by: Principal, opts: { dryRun?: boolean } = {}): Promise<PruneReport> {
    return this.upkeep.prune(by, opts);
  }

  /** Signs the CRL again when it is due, or with `force` (crl-upkeep.ts); the server calls it on a timer. */
  refreshCrl(by: Principal, opts: { force?: boolean } = {}): Promise<PruneReport> {
    return this.upkeep.refreshCrl(by, opts);
  }

  /**
   * PUT certificate_revocation_list: takes the newer CRLs of the CAs above this one from a
   * PEM bundle (crl-chain.ts: Puppet 7's rules) and signs this CA's own CRL again in front
   * of them. An upload that changes nothing signs nothing. Audited as crl-updated (a refusal
   * too, with its reason).
   */
  async updateCrls(upload: string, by: Principal): Promise<CrlChainPlan> {
    return this.refusalsAudited("crl-updated", by, [], () =>
      this.store.withLock(async () => {
        const ca = await this.current(true);
        const now = this.clock();
        const plan = planCrlUpdate(ca.chain, ca.outerCrlPem, upload, now);
        if (plan.changed.length === 0) return plan;
        const published = await publishWithOuter(this.store, ca, outerPemOf(plan.outer), now, crlNextUpdate(now, this.settings.crlTtl));
        this.keep(published);
        const detail = plan.changed.map((c) => `${c.issuer}: CRL ${c.from ?? "none"} -> ${c.to}`).join("; ") + `; this CA's CRL ${published.crl.crlNumber}`;
        await this.audited([this.record("crl-updated", by, { detail })]);
        return plan;
      }),
    );
  }

  /** `ca check` (check.ts): what is inconsistent in the store, and with `repair`, fixed. */
  check(opts: { repair: boolean; by: Principal }): Promise<CheckReport> {
    return checkCa({
      store: this.store, clock: this.clock, repairCrl: () => this.repairCrl(),
      resignCrl: async () => void (await this.refreshCrl(opts.by, { force: true })),
    }, opts);
  }

  /**
   * Recovery at open: a request whose certificate was stored just before a crash is removed
   * (recovery.ts), so the next sign --all does not sign it again. Returns the names.
   */
  async recoverInterrupted(): Promise<SignedRequest[]> {
    return removeSignedRequests(this.store, this.clock);
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
      const targets: RevokeTarget[] = [];
      const found: { name: string; serial?: bigint }[] = [];
      const refusals: AuditRecord[] = [];
      const issued = await this.unexpiredByName(names);
      const out = await this.eachName(names, "cleaned", by, refusals, async (name) => {
        const { certificate, request } = await this.store.getIndexEntry(name, summarize);
        if (!certificate && !(removeRequest && request)) throw new CaError("not-found", `Could not find files to clean for ${name}`);
        // Every unexpired certificate of the name, not only the file's: a node cleaned to enroll
        // again must not keep authenticating with the one a renewal replaced.
        for (const serial of serialsOf(name, certificate?.serial, issued)) targets.push({ serial, name });
        found.push({ name, serial: certificate?.serial });
      });
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

}

/** The name's current serial first, then the other unexpired ones the inventory lists for it. */
function serialsOf(name: string, current: bigint | undefined, issued: Map<string, bigint[]>): bigint[] {
  const out = current === undefined ? [] : [current];
  for (const serial of issued.get(name) ?? []) if (serial !== current) out.push(serial);
  return out;
}

export type { VerifyResult } from "./reader.js";
export type { PruneReport, SerialResult } from "./crl-upkeep.js";
