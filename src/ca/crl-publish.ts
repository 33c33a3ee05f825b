/**
 * Signing a new CRL and storing it. At 100,000 entries the CRL is 5 MB of PEM, and writing
 * it durably took longer than the signature; with a store that writes in stages
 * (StagedCrlStore) the two overlap. Everything in the PEM except its first line (which holds
 * the outer length, set by the signature's size) and its last lines (the end of the TBS,
 * the algorithm and the signature) follows from the TBS alone, so it goes to disk while the
 * CA key signs, and only the ends are written after.
 */
import type { KeyObject } from "node:crypto";
import { assembleCrl, crlTbs, crlTbsOffset, type CrlState } from "../pki/crl.js";
import { readTlv } from "../pki/der.js";
import { signAsync, type SignatureScheme } from "../pki/keys.js";
import { LINE_BYTES, LINE_CHARS, pemFoot, pemHead, pemLineCount, pemLines, toPemReusing, type PemPair } from "../pki/pem-reuse.js";
import { isStagedCrlStore, type CaStore, type StagedCrlStore } from "./store.js";

const LABEL = "X509 CRL";
/** Below this the whole write takes about a millisecond: staging would gain nothing. */
const STAGE_FROM_BYTES = 64 * 1024;

/** Signs the CRL for `state` and stores it; `previous` is the pair this process last published, if any. */
export async function publishCrl(store: CaStore, state: CrlState, key: KeyObject, previous: PemPair | undefined): Promise<PemPair> {
  const { tbs, scheme } = crlTbs(state, key);
  const signing = signAsync(tbs, key, scheme).then((sig) => assembleCrl(tbs, scheme, sig));
  if (isStagedCrlStore(store) && tbs.length >= STAGE_FROM_BYTES) {
    const staged = await publishStaged(store, tbs, scheme, key, signing, previous);
    if (staged) return staged;
  }
  const der = await signing;
  const pem = toPemReusing(der, LABEL, previous);
  await store.putCrl(pem.toString("latin1"));
  return { der, pem };
}

/** The signature came out a size that moves the TBS in the DER (an ECDSA signature, at a length boundary). */
class MovedBySignature extends Error {}

/** Publishes in stages; undefined when the signature's size moved what was written ahead, and nothing was stored. */
async function publishStaged(
  store: StagedCrlStore,
  tbs: Buffer,
  scheme: SignatureScheme,
  key: KeyObject,
  signing: Promise<Buffer>,
  previous: PemPair | undefined,
): Promise<PemPair | undefined> {
  const tbsOffset = crlTbsOffset(tbs, scheme, expectedSignatureLength(key));
  // The DER as it will be, with a placeholder for the outer header: line 0 is written last.
  const ahead = Buffer.concat([Buffer.alloc(tbsOffset), tbs]);
  const known = Math.floor(ahead.length / LINE_BYTES);
  const middle = { offset: pemHead(LABEL).length + LINE_CHARS, bytes: pemLines(ahead, LABEL, 1, known, previous) };
  let published: PemPair | undefined;
  const ends = signing.then((der) => {
    if (readTlv(der, 0).contentStart !== tbsOffset) throw new MovedBySignature();
    const before = Buffer.concat([pemHead(LABEL), pemLines(der, LABEL, 0, 1)]);
    const after = Buffer.concat([pemLines(der, LABEL, known, pemLineCount(der.length), previous), pemFoot(LABEL)]);
    published = { der, pem: Buffer.concat([before, middle.bytes, after]) };
    return { before, after };
  });
  try {
    await store.putCrlStaged(middle, ends);
  } catch (e) {
    if (e instanceof MovedBySignature) return undefined;
    throw e;
  }
  return published;
}

/** The signature's length in bytes: exact for RSA; for ECDSA the longest DER it usually takes. */
function expectedSignatureLength(key: KeyObject): number {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "rsa" && d?.modulusLength) return Math.ceil(d.modulusLength / 8);
  const fieldBytes = d?.namedCurve === "secp384r1" ? 48 : 32;
  return 2 * (fieldBytes + 3) + 2;
}
