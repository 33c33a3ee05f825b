/**
 * The JSON shapes of the API: camelCase keys, times in ISO 8601 UTC, serials in uppercase
 * hexadecimal as Puppet prints them (a JSON number cannot hold a 160-bit serial).
 */
import { serialHex } from "../../ca/audit.js";
import type { CertificateView, NamedExtension, PendingRequest } from "../../ca/console/views.js";
import type { CaSummary, CertificateDetail, Listed, Page, SerialDetail } from "../../ca/queries.js";
import type { RevocationRecord } from "../../ca/revocation.js";
import type { InventoryEntry } from "../../ca/store.js";

const iso = (d: Date | undefined): string | undefined => (d === undefined || Number.isNaN(d.getTime()) ? undefined : d.toISOString());

export function listedJson({ entry, state }: Listed) {
  return {
    name: entry.name,
    state,
    ...(entry.serial !== undefined ? { serial: serialHex(entry.serial) } : {}),
    ...(entry.notBefore ? { notBefore: iso(entry.notBefore) } : {}),
    ...(entry.notAfter ? { notAfter: iso(entry.notAfter) } : {}),
    fingerprint: entry.sha256,
    altNames: entry.altNames,
    authorizationExtensions: entry.authExtensions,
  };
}

export function pageJson<T, J>(page: Page<T>, item: (t: T) => J) {
  return { total: page.total, offset: page.offset, limit: page.limit, items: page.items.map(item) };
}

export function revocationJson(r: RevocationRecord) {
  return { serial: serialHex(r.serial), name: r.name, revokedAt: iso(r.revokedAt) ?? null, reason: r.reason, by: r.by };
}

export function certificateJson(c: CertificateDetail) {
  return {
    ...listedJson({ entry: c.entry, state: c.state }),
    fingerprints: c.fingerprints,
    ...(c.revocation ? { revocation: revocationJson(c.revocation) } : {}),
    requestPending: c.requestPending,
    pem: c.pem,
  };
}

function inventoryJson(i: InventoryEntry) {
  return { serial: serialHex(i.serial), subject: i.subject, notBefore: iso(i.notBefore), notAfter: iso(i.notAfter) };
}

export function serialJson(s: SerialDetail) {
  return {
    serial: serialHex(s.serial),
    name: s.name,
    current: s.current,
    ...(s.certificate ? { certificate: certificateJson(s.certificate) } : {}),
    ...(s.inventory ? { inventory: inventoryJson(s.inventory) } : {}),
    ...(s.revocation ? { revocation: revocationJson(s.revocation) } : {}),
  };
}

export function summaryJson(s: CaSummary) {
  return {
    subject: s.subject,
    commonName: s.commonName,
    fingerprint: s.fingerprint,
    notBefore: iso(s.notBefore),
    notAfter: iso(s.notAfter),
    chainLength: s.chainLength,
    crl: { number: s.crl.number.toString(), thisUpdate: iso(s.crl.thisUpdate), nextUpdate: iso(s.crl.nextUpdate), entries: s.crl.entries },
    counts: s.counts,
    nextSerial: serialHex(s.nextSerial),
  };
}

export function pendingJson(p: PendingRequest) {
  return {
    ...listedJson(p),
    ...(p.submittedAt ? { submittedAt: iso(p.submittedAt) } : {}),
    extensions: p.extensions.map(extensionJson),
    grants: p.grants,
  };
}

function extensionJson(e: NamedExtension) {
  return { name: e.name, oid: e.oid, value: e.value, critical: e.critical, grantsAccess: e.grantsAccess };
}

export function certificateViewJson(v: CertificateView) {
  return {
    ...certificateJson(v.detail),
    subject: v.subject,
    issuer: v.issuer,
    serial: serialHex(v.serial),
    notBefore: iso(v.notBefore),
    notAfter: iso(v.notAfter),
    fingerprints: { ...v.detail.fingerprints, SHA256: v.fingerprints.SHA256, SHA1: v.fingerprints.SHA1 },
    extensions: v.extensions.map(extensionJson),
    history: v.history,
  };
}
