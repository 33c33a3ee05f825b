/**
 * What a CA needs to know about a CRL it did not sign (an outer CA's, uploaded to
 * PUT certificate_revocation_list): who issued it, its number, when it is valid, whether
 * it is a delta CRL, and whether a given certificate is listed. Decoded once, up front:
 * these CRLs are small and arrive rarely.
 */
import { children, content, decodeOid, DerError, expectTag, readTlv, Tag } from "./der.js";
import { crlStateFromDer } from "./crl.js";
import { crlSignedBy } from "./crl-verify.js";

/** RFC 5280 5.2.4: a delta CRL carries this extension. */
const DELTA_CRL_INDICATOR = "2.5.29.27";

export interface CrlInfo {
  readonly der: Buffer;
  /** The issuer Name, DER. */
  readonly issuer: Buffer;
  readonly authorityKeyId: Buffer;
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly serials: ReadonlySet<bigint>;
  readonly delta: boolean;
}

/** Decodes a CRL; throws DerError when it is not one. */
export function crlInfo(der: Buffer): CrlInfo {
  const st = crlStateFromDer(der);
  return { der, issuer: st.issuer, authorityKeyId: st.authorityKeyId, crlNumber: st.crlNumber, thisUpdate: st.thisUpdate, nextUpdate: st.nextUpdate, serials: st.serials, delta: extensionOids(der).includes(DELTA_CRL_INDICATOR) };
}

/** True when the CRL carries a valid signature by the holder of `issuerSpki`. */
export const crlInfoSignedBy = (crl: CrlInfo, issuerSpki: Buffer): boolean => crlSignedBy(crl.der, issuerSpki);

/** The OIDs of the CRL's crlExtensions, in order. */
function extensionOids(der: Buffer): string[] {
  const top = readTlv(der, 0);
  const [tbsT] = children(der, expectTag(top, Tag.SEQUENCE, "CertificateList"));
  const fields = children(der, expectTag(tbsT, Tag.SEQUENCE, "TBSCertList"));
  const exts = fields.find((f) => f.tag === 0xa0);
  if (!exts) return [];
  const list = readTlv(der, exts.contentStart, exts.end);
  if (list.tag !== Tag.SEQUENCE) throw new DerError("crlExtensions is not a SEQUENCE");
  return children(der, list).map((e) => decodeOid(content(der, expectTag(children(der, e)[0], Tag.OID, "extension id"))));
}
