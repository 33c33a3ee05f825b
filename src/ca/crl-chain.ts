/**
 * The CRL chain of an intermediate CA: ca_crl.pem holds this CA's own CRL first, then the
 * CRLs of the CAs above it (Puppet's layout, kept by `fleetca ca import`). Agents check every
 * certificate of the chain against them (Puppet's `certificate_revocation = chain`), so the
 * outer CRLs must be kept current: PUT certificate_revocation_list uploads newer ones.
 *
 * Puppet 7's rules (certificate_authority.clj update-crls): for each uploaded CRL whose
 * issuer is one of the outer CAs, the newest one (highest CRL number) replaces the stored
 * one if it is newer; this CA's own CRL is never replaced by an upload; CRLs of other
 * issuers are ignored; a CRL that does not check out fails the whole upload (400).
 * fleetca checks each CRL it takes against the CA certificate that issued it (signature,
 * not expired, not a delta CRL, not revoking a certificate of the chain), and adds the CRL
 * of an outer CA that had none yet, where Puppet only replaces CRLs already present.
 *
 * The CA (authority.ts) plans under its lock, then publishes: its own CRL signed again (a
 * new number and thisUpdate, so agents asking with If-Modified-Since fetch the whole chain
 * again) with the new outer CRLs after it. An upload that changes nothing signs nothing.
 */
import type { ParsedCertificate } from "../pki/certificate.js";
import { publishCrl } from "./crl-publish.js";
import { signingKey, type LoadedMaterial } from "./material.js";
import type { CaStore } from "./store.js";
import { crlInfo, crlInfoSignedBy, type CrlInfo } from "../pki/crl-info.js";
import { crlToPem, resignedState } from "../pki/crl.js";
import { commonNameOf, parseNameDer } from "../pki/name.js";
import { pemBlocks } from "../pki/pem.js";
import { CaError } from "./errors.js";

const END = "-----END X509 CRL-----";
const BEGIN = "-----BEGIN X509 CRL-----";

/**
 * The CRLs after this CA's own in a CRL chain, as the text that follows it (from the next
 * BEGIN line to the end), "" when there are none. String work only: the own CRL may be
 * 5 MB, and it has just been decoded anyway.
 */
export function outerCrlsPem(crlPem: string): string {
  const end = crlPem.indexOf(END);
  if (end < 0) return "";
  const next = crlPem.indexOf(BEGIN, end + END.length);
  if (next < 0) return "";
  const tail = crlPem.slice(next);
  return tail.endsWith("\n") ? tail : `${tail}\n`;
}

/** What an upload changes, per issuer, for the response, the log and the audit trail. */
export interface OuterCrlChange {
  /** The issuing CA's common name. */
  issuer: string;
  /** The CRL number stored before; undefined when the chain held no CRL of that CA. */
  from?: bigint;
  to: bigint;
}

export interface CrlChainPlan {
  /** The outer CRLs to publish after this CA's, in order: the stored ones, replaced in place, then added ones in chain order. */
  outer: CrlInfo[];
  /** CRLs that replace (or add) an outer CA's CRL. Empty: nothing to publish. */
  changed: OuterCrlChange[];
  /** Outer CAs whose uploaded CRL was not newer than the stored one. */
  notNewer: OuterCrlChange[];
  /** Uploaded CRLs left alone: this CA's own (fleetca signs it) and those of issuers outside the chain. */
  ignored: string[];
}

const nameOf = (issuerDer: Buffer): string => {
  try {
    return commonNameOf(parseNameDer(issuerDer)) ?? "(no common name)";
  } catch {
    return "(unreadable name)";
  }
};

const refuse = (message: string): CaError => new CaError("invalid-request", message);

/** The CRLs of a PEM text; a block that is not a CRL's DER fails the whole text. */
function readCrls(text: string, where: string): CrlInfo[] {
  let blocks;
  try {
    blocks = pemBlocks(text).filter((b) => b.label === "X509 CRL");
  } catch (e) {
    throw refuse(`${where} cannot be read: ${(e as Error).message}.`);
  }
  return blocks.map((b, i) => {
    try {
      return crlInfo(b.der);
    } catch (e) {
      throw refuse(`CRL ${i + 1} of ${where} is not a valid CRL: ${(e as Error).message}.`);
    }
  });
}

/** The newest of one issuer's uploaded CRLs: Puppet refuses two different CRLs sharing the highest number. */
function newestOf(crls: CrlInfo[]): CrlInfo {
  let best = crls[0]!;
  for (const c of crls.slice(1)) {
    if (c.crlNumber > best.crlNumber) best = c;
    else if (c.crlNumber === best.crlNumber && !c.der.equals(best.der)) {
      throw refuse(`Could not determine newest CRL: two different CRLs of "${nameOf(c.issuer)}" carry the number ${c.crlNumber}.`);
    }
  }
  return best;
}

/** Checks an outer CA's CRL before it is taken; throws what is wrong with it. */
function checkOuterCrl(crl: CrlInfo, issuer: ParsedCertificate, chain: readonly ParsedCertificate[], now: Date): void {
  const who = `The CRL of "${issuer.commonName}" (number ${crl.crlNumber})`;
  if (!crlInfoSignedBy(crl, issuer.spki)) throw refuse(`${who} is not signed by the key of that CA's certificate in this CA's chain.`);
  if (crl.delta) throw refuse(`${who} is a delta CRL; delta CRLs are not supported.`);
  if (crl.nextUpdate.getTime() < now.getTime()) throw refuse(`${who} expired at ${crl.nextUpdate.toISOString()} (its nextUpdate); upload a current one.`);
  for (const cert of chain) {
    if (cert.issuerDer.equals(issuer.subjectDer) && cert !== issuer && crl.serials.has(cert.serial)) {
      throw refuse(`${who} revokes "${cert.commonName}" (serial ${cert.serial.toString(16).toUpperCase()}) of this CA's own chain; nothing was updated.`);
    }
  }
}

/**
 * Decides what an upload changes. `chain` is this CA's certificate first, then its issuers;
 * `storedOuter` the outer CRLs stored now (outerCrlsPem). Throws a CaError (invalid-request)
 * when the upload holds no CRL, or a CRL of an outer CA that does not check out.
 */
export function planCrlUpdate(chain: readonly ParsedCertificate[], storedOuter: string, upload: string, now: Date): CrlChainPlan {
  const incoming = readCrls(upload, "the upload");
  if (incoming.length === 0) throw refuse("No valid CRLs submitted.");
  const self = chain[0]!;
  const outerCas = chain.slice(1);
  const byCa = new Map<ParsedCertificate, CrlInfo[]>();
  const ignored: string[] = [];
  for (const crl of incoming) {
    if (crl.issuer.equals(self.subjectDer)) {
      ignored.push(`${self.commonName} (this CA: its CRL is signed by fleetca)`);
      continue;
    }
    const ca = outerCas.find((c) => c.subjectDer.equals(crl.issuer));
    if (!ca) {
      ignored.push(`${nameOf(crl.issuer)} (not a CA of this CA's chain)`);
      continue;
    }
    byCa.set(ca, [...(byCa.get(ca) ?? []), crl]);
  }
  const outer = readCrls(storedOuter, "the stored CRL chain");
  const changed: OuterCrlChange[] = [];
  const notNewer: OuterCrlChange[] = [];
  for (const ca of outerCas) {
    const uploaded = byCa.get(ca);
    if (!uploaded) continue;
    const newest = newestOf(uploaded);
    checkOuterCrl(newest, ca, chain, now);
    const at = outer.findIndex((c) => c.issuer.equals(ca.subjectDer));
    const stored = at >= 0 ? outer[at] : undefined;
    if (stored && newest.crlNumber <= stored.crlNumber) {
      notNewer.push({ issuer: ca.commonName, from: stored.crlNumber, to: newest.crlNumber });
      continue;
    }
    if (at >= 0) outer[at] = newest;
    else outer.push(newest);
    changed.push({ issuer: ca.commonName, from: stored?.crlNumber, to: newest.crlNumber });
  }
  return { outer, changed, notNewer, ignored };
}

/** The outer CRLs as the PEM text that follows this CA's CRL in ca_crl.pem. */
export const outerPemOf = (outer: readonly CrlInfo[]): string => outer.map((c) => crlToPem(c.der)).join("");

/**
 * Signs this CA's CRL again (same entries, number up by one, dated `now`, valid until
 * `nextUpdate`) with `outer` after it, stores both, and returns the material as now
 * published. Call inside withLock.
 */
export async function publishWithOuter(store: CaStore, ca: LoadedMaterial, outer: string, now: Date, nextUpdate: Date): Promise<LoadedMaterial> {
  const state = resignedState(ca.crl, now, nextUpdate);
  const published = await publishCrl(store, state, signingKey(ca), ca.crlEncoded, outer);
  const crlPem = published.pem.toString("latin1") + outer;
  return { ...ca, crl: state, crlEncoded: published, outerCrlPem: outer, raw: { ...ca.raw, crlPem }, version: await store.materialVersion() };
}

/** The issuer and nextUpdate of each outer CRL (for `expirations`); an unreadable one is left out. */
export function outerCrlExpirations(ca: LoadedMaterial): { issuer: string; nextUpdate: Date }[] {
  if (ca.outerCrlPem === "") return [];
  try {
    return readCrls(ca.outerCrlPem, "the stored CRL chain").map((c) => ({ issuer: nameOf(c.issuer), nextUpdate: c.nextUpdate }));
  } catch {
    return [];
  }
}
