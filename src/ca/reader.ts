/**
 * What the CA reads: its credentials (reloaded when the store says they changed), requests,
 * certificates, statuses, revocation records and the audit trail. CertificateAuthority adds
 * the changes; transports that only read could hold a CaReader.
 */
import { parseCertificatePem, unreadableBecause, verifySignedBy } from "../pki/certificate.js";
import { fingerprint } from "../pki/fingerprint.js";
import type { AuditQuery, AuditRecord } from "./audit.js";
import { outerCrlExpirations } from "./crl-chain.js";
import { CaError } from "./errors.js";
import { loadMaterial, type LoadedMaterial } from "./material.js";
import { validateCertname } from "./names.js";
import type { RevocationRecord } from "./revocation.js";
import { puppetDate, statusOf, type CertState, type CertStatus } from "./status.js";
import { isIndexRowsStore, StoreUnavailableError, type CaStore, type IndexEntry } from "./store.js";
import { summarize } from "./summarize.js";

/** The result of checking one issued certificate against the CA and its CRL. */
export interface VerifyResult {
  name: string;
  ok: boolean;
  problems: string[];
}

export class CaReader {
  private material?: LoadedMaterial;
  private lastVersionCheck = 0;

  constructor(
    readonly store: CaStore,
    protected readonly clock: () => Date,
  ) {}

  /** Keeps material this process just published, so the next change starts from it. */
  protected keep(m: LoadedMaterial): void {
    this.material = m;
  }

  /**
   * The CA's credentials, reloaded when the store's version token changes (checked at most every 250 ms).
   * Callers arriving while a check runs share it: a `sign --all` starts 32 signings at once, and
   * each loaded and parsed the CA key, certificate and CRL for itself.
   */
  async current(force = false): Promise<LoadedMaterial> {
    if (this.material && !force && Date.now() - this.lastVersionCheck < 250) return this.material;
    if (force) return this.load(true);
    this.checking ??= this.load(false).finally(() => (this.checking = undefined));
    return this.checking;
  }

  private checking?: Promise<LoadedMaterial>;

  private async load(force: boolean): Promise<LoadedMaterial> {
    const now = Date.now();
    if (this.material && !force && now - this.lastVersionCheck < 250) return this.material;
    this.lastVersionCheck = now;
    try {
      const version = await this.store.materialVersion();
      if (!this.material || this.material.version !== version) {
        if (!(await this.store.isInitialized())) {
          throw new CaError("not-initialized", `No CA found at ${this.store.location}; create one with \`fleetca ca setup\`, or take an existing CA over with \`fleetca ca import\` (\`fleetca ca import --help\` says what it needs).`);
        }
        this.material = loadMaterial(await this.store.loadCaMaterial(), version);
      }
    } catch (e) {
      // The store out of reach: what was loaded is still this CA's certificate and latest known
      // CRL, so reads go on being served from memory. Changes (force) need the store anyway.
      if (e instanceof StoreUnavailableError && this.material && !force) return this.material;
      throw e;
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

  /** The audit log, oldest first. */
  auditLog(query: AuditQuery): Promise<AuditRecord[]> {
    return this.store.readAudit(query);
  }

  async getRequestPem(name: string): Promise<string> {
    validateCertname(name);
    const pem = await this.store.getRequest(name);
    if (!pem) throw new CaError("not-found", `Could not find certificate_request ${name}`);
    return pem;
  }

  async getCertificatePem(name: string): Promise<string> {
    if (name === "ca") return this.caCertificatePem();
    validateCertname(name);
    const pem = await this.store.getCertificate(name);
    if (!pem) throw new CaError("not-found", `Could not find certificate ${name}`);
    return pem;
  }

  protected async certState(e: IndexEntry): Promise<CertState> {
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
    if (state === "requested" && isIndexRowsStore(this.store)) {
      // The pending requests alone (the server counts them every few seconds): not a million certificates made and dropped.
      const rows = await this.store.indexRows("request", summarize);
      return Array.from({ length: rows.size }, (_, i) => ({ entry: rows.entry(i), state: "requested" as const }));
    }
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

  /** Puppet's expirations: every CA certificate of the chain, and every CRL of the CRL chain (this CA's first), by issuer. */
  async expirations(): Promise<{ "ca-certs": Record<string, string>; crls: Record<string, string> }> {
    const ca = await this.current();
    const certs: Record<string, string> = {};
    for (const c of ca.chain) certs[c.commonName] = puppetDate(c.notAfter);
    const crls: Record<string, string> = { [ca.cert.commonName]: puppetDate(ca.crl.nextUpdate) };
    for (const o of outerCrlExpirations(ca)) crls[o.issuer] ??= puppetDate(o.nextUpdate);
    return { "ca-certs": certs, crls };
  }

  /** Checks a stored certificate: issued by this CA (signature), within its validity, not revoked. */
  async verifyCertificate(name: string): Promise<VerifyResult> {
    const cert = parseCertificatePem(await this.getCertificatePem(name));
    const ca = await this.current();
    const problems: string[] = [];
    const unreadable = unreadableBecause(cert);
    if (unreadable) problems.push(`relying parties cannot read it: ${unreadable}`);
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
