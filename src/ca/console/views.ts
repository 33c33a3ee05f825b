/**
 * What the console shows, as domain values: pending requests with their requested
 * extensions by Puppet short name and their age, certificate pages (every field and the
 * audit history), sorted and paged lists. Lists come from the index; only the page's own
 * requests or certificate are parsed.
 */
import { parseCertificatePem } from "../../pki/certificate.js";
import { parseCsrPem } from "../../pki/csr.js";
import { extensionText, type Extension } from "../../pki/extensions.js";
import { fingerprint } from "../../pki/fingerprint.js";
import { slashName } from "../../pki/name.js";
import { isAuthorizationExtension, OID, shortNameOf } from "../../pki/oids.js";
import type { AuditRecord } from "../audit.js";
import type { CertificateAuthority } from "../authority.js";
import { CaError } from "../errors.js";
import { extraAltNames } from "../policy.js";
import { certificateByName, listEntries, type CertificateDetail, type Listed, type ListQuery, type Page, type SortKey } from "../queries.js";
export { SORT_KEYS, type SortKey } from "../queries.js";
import { isRequestTimesStore } from "../store.js";

/** One extension as people read it: Puppet's short name when it has one, else the OID. */
export interface NamedExtension {
  name: string;
  oid: string;
  value: string;
  critical: boolean;
  /** An authorization extension (pp_cli_auth, pp_auth_role...): grants access, so it is flagged. */
  grantsAccess: boolean;
}

const GENERIC: Record<string, string> = {
  [OID.subjectAltName]: "subjectAltName",
  [OID.basicConstraints]: "basicConstraints",
  [OID.keyUsage]: "keyUsage",
  [OID.extKeyUsage]: "extendedKeyUsage",
  [OID.subjectKeyIdentifier]: "subjectKeyIdentifier",
  [OID.authorityKeyIdentifier]: "authorityKeyIdentifier",
  [OID.netscapeComment]: "nsComment",
};

export function namedExtensions(extensions: readonly Extension[], altNames: readonly string[]): NamedExtension[] {
  return extensions.map((e) => {
    const short = shortNameOf(e.oid);
    let value: string;
    if (e.oid === OID.subjectAltName) value = altNames.join(", ");
    else if (short || e.oid === OID.netscapeComment) value = extensionText(e.value);
    else value = e.value.toString("hex").toUpperCase().replace(/(..)(?!$)/g, "$1:");
    return { name: short ?? GENERIC[e.oid] ?? e.oid, oid: e.oid, value, critical: e.critical, grantsAccess: isAuthorizationExtension(e.oid) };
  });
}

export interface PendingRequest extends Listed {
  /** When the request arrived, when the store knows. */
  submittedAt?: Date;
  /** Requested extensions (all of them, alt names excepted) by short name. */
  extensions: NamedExtension[];
  /** What signing it grants beyond a plain node certificate: extra alt names, authorization extensions. Empty: nothing. */
  grants: string[];
}

/** What signing a request grants beyond a node certificate for its name. */
function grantsOf(name: string, altNames: string[], extensions: NamedExtension[]): string[] {
  const extra = extraAltNames({ name, altNames, extensions: [] });
  return [...extra.map((n) => `alt name ${n}`), ...extensions.filter((e) => e.grantsAccess).map((e) => `${e.name}=${e.value}`)];
}

/**
 * What a page shows of a request beyond the index, kept by name and fingerprint: a request
 * never changes under the same fingerprint, so the CSR is read, parsed and dated once, and
 * the pending list polled every few seconds costs a filter of the index, not 50 file reads.
 */
interface RequestFacts {
  extensions: NamedExtension[];
  submittedAt?: Date;
}
const FACTS_KEPT = 20_000;
const factsByCa = new WeakMap<CertificateAuthority, Map<string, RequestFacts>>();

async function requestFacts(ca: CertificateAuthority, items: readonly Listed[]): Promise<Map<string, RequestFacts>> {
  let cache = factsByCa.get(ca);
  if (!cache) factsByCa.set(ca, (cache = new Map()));
  const key = (l: Listed) => `${l.entry.name}/${l.entry.sha256}`;
  const missing = items.filter((i) => !cache.has(key(i)));
  if (missing.length > 0) {
    const names = missing.map((i) => i.entry.name);
    const times = isRequestTimesStore(ca.store) ? await ca.store.requestTimes(names) : new Map<string, Date>();
    await Promise.all(
      missing.map(async (item) => {
        const pem = await ca.store.getRequest(item.entry.name);
        let extensions: NamedExtension[] = [];
        if (pem) {
          try {
            const csr = parseCsrPem(pem);
            extensions = namedExtensions(csr.extensions.filter((e) => e.oid !== OID.subjectAltName), csr.altNames);
          } catch {
            // A request another tool left unreadable: listed with what the index knows.
          }
        }
        const submittedAt = times.get(item.entry.name);
        cache.set(key(item), { extensions, ...(submittedAt ? { submittedAt } : {}) });
      }),
    );
    while (cache.size > FACTS_KEPT) cache.delete(cache.keys().next().value!);
  }
  return new Map(items.map((i) => [i.entry.name, cache.get(key(i))!]));
}

/** One page of pending requests, each with its extensions, grants and age. */
export async function pendingPage(ca: CertificateAuthority, q: Omit<ListQuery, "states">): Promise<Page<PendingRequest>> {
  const page = await listEntries(ca, { ...q, states: ["requested"] });
  const facts = await requestFacts(ca, page.items);
  const items = page.items.map((item): PendingRequest => {
    const { extensions, submittedAt } = facts.get(item.entry.name)!;
    return { ...item, extensions, grants: grantsOf(item.entry.name, item.entry.altNames, extensions), ...(submittedAt ? { submittedAt } : {}) };
  });
  return { ...page, items };
}

/** The grants of one pending request (the sign action checks its confirmation against them). */
export async function requestGrants(ca: CertificateAuthority, name: string): Promise<string[]> {
  const pem = await ca.getRequestPem(name);
  const csr = parseCsrPem(pem);
  return grantsOf(name, csr.altNames, namedExtensions(csr.extensions.filter((e) => e.oid !== OID.subjectAltName), csr.altNames));
}

/** A page of the list in the order asked (the store keeps the orderings; see CaStore.queryIndex). */
export function sortedPage(ca: CertificateAuthority, q: ListQuery, sort: SortKey, descending: boolean): Promise<Page<Listed>> {
  return listEntries(ca, q, sort, descending);
}

/** A certificate's page: every field, and what the audit trail says about its name. */
export interface CertificateView {
  detail: CertificateDetail;
  subject: string;
  issuer: string;
  serial: bigint;
  notBefore: Date;
  notAfter: Date;
  fingerprints: { SHA256: string; SHA1: string };
  altNames: string[];
  extensions: NamedExtension[];
  history: AuditRecord[];
}

export async function certificateView(ca: CertificateAuthority, name: string): Promise<CertificateView> {
  const detail = await certificateByName(ca, name);
  const cert = parseCertificatePem(detail.pem);
  if (!cert) throw new CaError("not-found", `Could not find certificate ${name}`);
  return {
    detail,
    subject: slashName(cert.subject),
    issuer: slashName(cert.issuer),
    serial: cert.serial,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprints: { SHA256: fingerprint(cert.der), SHA1: fingerprint(cert.der, "sha1") },
    altNames: cert.altNames,
    extensions: namedExtensions(cert.extensions, cert.altNames),
    history: await ca.auditLog({ name, limit: 200 }),
  };
}
