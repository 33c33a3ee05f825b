/**
 * The one issuing path. Signing a stored request (CLI, API, console), autosign, renewal and
 * `generate` all come here: the same signing policy, notAfter cap, duplicate rule, serial
 * source, storage step, audit record and meter call.
 */
import { certToPem, issueCertificate, parseCertificateDer, type ParsedCertificate } from "../pki/certificate.js";
import type { Extension } from "../pki/extensions.js";
import { cnName, slashName } from "../pki/name.js";
import { isPuppetExtension, PP_CLI_AUTH } from "../pki/oids.js";
import { leafExtensions, ocspResponderExtensions } from "../pki/profile.js";
import { auditRecord, type AuditRecord, type Meter } from "./audit.js";
import { CaError } from "./errors.js";
import { signingKey, type LoadedMaterial } from "./material.js";
import { checkKeyPolicy, type KeyPolicy } from "./key-policy.js";
import { checkSigningPolicy } from "./policy.js";
import type { Principal } from "./principal.js";
import type { CommitPrecondition, SigningBatches } from "./signing-batches.js";
import { twinOf } from "./twin.js";
import type { CaStore } from "./store.js";
import { certificateEntry } from "./summarize.js";

const DAY_MS = 86_400_000;
/** The latest notAfter X.509 can express (RFC 5280 GeneralizedTime has four year digits). */
export const LATEST_NOT_AFTER = Date.UTC(9999, 11, 31, 23, 59, 59);

/** Where a certificate comes from; decides which precondition its storage step checks. */
export type IssueSource =
  /** A pending request in the store (sign, sign --all, certificate_status PUT); `pem`: the bytes signed, when the caller read them. */
  | { kind: "request"; pem?: string }
  /** An autosigned submission that was never stored. */
  | { kind: "submission" }
  /** `generate`: a key made by the CA for a system without an agent. */
  | { kind: "generate" }
  /** A renewal of the name's current certificate, which must still be current and unrevoked. */
  | { kind: "renewal"; replaces: bigint }
  /**
   * The server's delegated OCSP responder: the OCSP signing profile (pki/profile.ts), no
   * extensions from the caller; it replaces the name's previous responder certificate.
   */
  | { kind: "ocsp-responder" };

export interface IssueInput {
  name: string;
  spki: Buffer;
  altNames: string[];
  /** Extensions asked for (a CSR's, or the renewed certificate's). */
  extensions: Extension[];
  source: IssueSource;
  by: Principal;
  /** The operator's --allow-dns-alt-names for this signing. */
  allowDnsAltNames?: boolean;
  /** Overrides ca_ttl for this certificate (seconds). */
  ttlSeconds?: number;
  /** Adds pp_cli_auth (the server's own certificate). */
  cliAuth?: boolean;
  /** Audit detail, e.g. "autosign". */
  detail?: string;
}

export interface IssuerSettings extends KeyPolicy {
  /** Seconds a certificate is valid by default (Puppet's ca_ttl). */
  caTtl: number;
  allowSubjectAltNames: boolean;
  allowAuthorizationExtensions: boolean;
  allowDuplicateCerts: boolean;
  /** Written as cRLDistributionPoints when set (not empty). */
  crlUrl?: string;
  /** Written in authorityInfoAccess when set (not empty). */
  ocspUrl?: string;
  caIssuersUrl?: string;
}

export interface IssuerDeps {
  store: CaStore;
  settings: IssuerSettings;
  clock: () => Date;
  meter: Meter;
  batches: SigningBatches;
  material: () => Promise<LoadedMaterial>;
  /** Sees every audit record once it is durable (the server logs them). */
  observe: (r: AuditRecord) => void;
}

const AUDIT_ACTION = { request: "signed", submission: "signed", generate: "generated", renewal: "renewed", "ocsp-responder": "generated" } as const;

/**
 * What a certificate may carry. A renewal re-grants what an operator granted at first issue
 * (its alt names and authorization extensions), so the request-time switches do not apply to
 * it; everything else, extensions outside Puppet's arcs included, is checked the same way.
 */
export function allowedExtensions(input: IssueInput, s: IssuerSettings): Extension[] {
  if (input.source.kind === "renewal") return input.extensions.filter((e) => isPuppetExtension(e.oid) && e.oid !== PP_CLI_AUTH);
  if (input.source.kind === "ocsp-responder") return [];
  return checkSigningPolicy(
    { name: input.name, altNames: input.altNames, extensions: input.extensions },
    { allowSubjectAltNames: s.allowSubjectAltNames, allowAuthorizationExtensions: s.allowAuthorizationExtensions },
    input.allowDnsAltNames === true || input.source.kind === "generate",
  );
}

export class Issuer {
  constructor(private readonly d: IssuerDeps) {}

  /** Issues, stores and audits one certificate; a refusal is audited and metered, then thrown. */
  async issue(input: IssueInput): Promise<ParsedCertificate> {
    const action = AUDIT_ACTION[input.source.kind];
    try {
      const cert = await this.issueUnaudited(input);
      this.d.meter.outcome(action, "ok", input.by.kind);
      return cert;
    } catch (e) {
      if (e instanceof CaError) {
        this.d.meter.outcome(action, "refused", input.by.kind, e.kind);
        const record = auditRecord(this.d.clock(), action, input.by, { names: [input.name], outcome: "refused", reason: e.message, detail: input.detail });
        await this.d.store.appendAudit([record]);
        this.d.observe(record);
      }
      throw e;
    }
  }

  private async issueUnaudited(input: IssueInput): Promise<ParsedCertificate> {
    const { name, source } = input;
    const copied = allowedExtensions(input, this.d.settings);
    // Renewals too: a weak key certified before the policy must not be certified again.
    if (source.kind !== "ocsp-responder") checkKeyPolicy(name, input.spki, this.d.settings);
    const ca = await this.d.material();
    // Before a serial is taken: a CA without its key refuses without spending one.
    const key = signingKey(ca);
    const now = this.d.clock();
    const ttl = input.ttlSeconds ?? this.d.settings.caTtl;
    // Puppet does not cap at the CA's own expiry, and neither does fleetca; only at what X.509 can say.
    const notAfterMs = now.getTime() + ttl * 1000;
    if (!(notAfterMs <= LATEST_NOT_AFTER)) {
      throw new CaError("invalid-request", `A validity of ${ttl} seconds (cert_ttl) for ${name} ends after 9999-12-31, the latest date a certificate can carry; choose a shorter cert_ttl.`);
    }
    const serial = await this.d.batches.serial(ca.cert.spki);
    const der = await issueCertificate(
      {
        serial,
        issuer: ca.cert.subjectDer,
        subject: cnName(name),
        notBefore: new Date(now.getTime() - DAY_MS),
        notAfter: new Date(notAfterMs),
        spki: input.spki,
        extensions: source.kind === "ocsp-responder"
          ? ocspResponderExtensions({ spki: input.spki, caSpki: ca.cert.spki, caIssuerDer: ca.cert.issuerDer, caSerial: ca.cert.serial })
          : leafExtensions({
          commonName: name, spki: input.spki, altNames: input.altNames, copied, caSpki: ca.cert.spki,
          caIssuerDer: ca.cert.issuerDer, caSerial: ca.cert.serial, cliAuth: input.cliAuth, where: this.d.settings,
        }),
      },
      key,
    );
    const cert = parseCertificateDer(der);
    const audit = auditRecord(now, AUDIT_ACTION[source.kind], input.by, { names: [name], serials: [serial], detail: input.detail });
    const refused = await this.d.batches.commit({
      name,
      certPem: certToPem(der),
      inventory: { serial, notBefore: cert.notBefore, notAfter: cert.notAfter, subject: slashName(cert.subject) },
      entry: certificateEntry(name, cert),
      removeRequest: source.kind === "request",
      precondition: preconditionOf(source, this.d.settings.allowDuplicateCerts),
      // Checked under the CA lock with the precondition (twin.ts): a look at the index before
      // signing cost a refresh of it per certificate, and left two spellings signed at once free to both be kept.
      twin: source.kind === "request" || source.kind === "submission" || source.kind === "generate" ? twinOf(name) : undefined,
      audit,
    });
    if (refused) throw refused;
    this.d.observe(audit);
    return cert;
  }
}

function preconditionOf(source: IssueSource, allowDuplicate: boolean): CommitPrecondition {
  switch (source.kind) {
    case "request":
      return { kind: "request-present", pem: source.pem };
    case "submission":
    case "generate":
      return { kind: "no-certificate", allowDuplicate };
    case "renewal":
      return { kind: "current-serial", serial: source.replaces };
    case "ocsp-responder":
      return { kind: "no-certificate", allowDuplicate: true };
  }
}
