/** Checking a CRL's signature: an agent must not accept a revocation list its CA did not sign. */
import { verifySignedBy } from "./certificate.js";
import { children, content, decodeOid, DerError, expectTag, readTlv, slice, Tag } from "./der.js";

/** True when the CRL (DER) carries a valid signature by the holder of `issuerSpki`; false when it is malformed. */
export function crlSignedBy(der: Buffer, issuerSpki: Buffer): boolean {
  try {
    const top = readTlv(der, 0);
    const [tbsT, algT, sigT] = children(der, expectTag(top, Tag.SEQUENCE, "CertificateList"));
    const tbs = slice(der, expectTag(tbsT, Tag.SEQUENCE, "TBSCertList"));
    const alg = children(der, expectTag(algT, Tag.SEQUENCE, "signatureAlgorithm"))[0];
    const sigOid = decodeOid(content(der, expectTag(alg, Tag.OID, "signature algorithm")));
    const sig = content(der, expectTag(sigT, Tag.BIT_STRING, "signature")).subarray(1);
    return verifySignedBy(tbs, sigOid, sig, issuerSpki);
  } catch (e) {
    if (e instanceof DerError) return false;
    throw e;
  }
}
