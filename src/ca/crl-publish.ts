/**
 * Signing a new CRL and storing it. At 100,000 entries the CRL is 5 MB of PEM, and writing
 * it durably took longer than the signature; with a store that writes in stages
 * (StagedCrlStore) the two overlap. Everything in the PEM except its first line (which holds
 * the outer length, set by the signature's size) and its last lines (the end of the TBS,
 * the algorithm and the signature) follows from the TBS alone, so it goes to disk while the
 * CA key signs, and only the ends are written after.
 *
 * An intermediate CA's ca_crl.pem also holds the CRLs of the CAs above it, after its own
 * (crl-chain.ts): they are written after the new CRL every time, never dropped.
 */
import type { KeyObject } from "node:crypto";
import { draftCrl, type CrlDraft, type CrlState } from "../pki/crl.js";
import { readTlv } from "../pki/der.js";
import { signAsync } from "../pki/keys.js";
import { LINE_BYTES, LINE_CHARS, pemFoot, pemHead, pemLineCount, pemLines, toPemReusing, type PemPair } from "../pki/pem-reuse.js";
import { isStagedCrlStore, type CaStore, type StagedCrlStore } from "./store.js";

const LABEL = "X509 CRL";
/** Below this the whole write takes about a millisecond: staging would gain nothing. */
const STAGE_FROM_BYTES = 64 * 1024;

/**
 * Signs the CRL for `state` and stores it, followed by `outer` (the outer CAs' CRLs, PEM; ""
 * for a root CA); `previous` is the pair this process last published, if any. Returns this
 * CA's CRL alone.
 */
export async function publishCrl(store: CaStore, state: CrlState, key: KeyObject, previous: PemPair | undefined, outer = ""): Promise<PemPair> {
  const draft = draftCrl(state, key);
  const signing = signAsync(draft.tbs, key, draft.scheme).then((sig) => draft.finish(sig));
  const tail = Buffer.from(outer, "latin1");
  if (isStagedCrlStore(store) && draft.tbs.length >= STAGE_FROM_BYTES) {
    const staged = await publishStaged(store, draft, signing, previous, tail);
    if (staged) return staged;
  }
  const der = await signing;
  const pem = toPemReusing(der, LABEL, previous);
  await store.putCrl(pem.toString("latin1") + outer);
  return { der, pem };
}

/** The signature came out a size that moves the TBS in the DER (an ECDSA signature, at a length boundary). */
class MovedBySignature extends Error {}

/** Publishes in stages; undefined when the signature's size moved what was written ahead, and nothing was stored. */
async function publishStaged(store: StagedCrlStore, draft: CrlDraft, signing: Promise<Buffer>, previous: PemPair | undefined, tail: Buffer): Promise<PemPair | undefined> {
  const tbsOffset = draft.tbs.byteOffset - draft.der.byteOffset;
  // Lines 1 to known-1 lie within the TBS: final whatever the signature. Line 0 holds the outer length.
  const known = Math.floor((tbsOffset + draft.tbs.length) / LINE_BYTES);
  const middle = { offset: pemHead(LABEL).length + LINE_CHARS, bytes: pemLines(draft.der, LABEL, 1, known, previous) };
  let published: PemPair | undefined;
  const ends = signing.then((der) => {
    if (readTlv(der, 0).contentStart !== tbsOffset) throw new MovedBySignature();
    const before = Buffer.concat([pemHead(LABEL), pemLines(der, LABEL, 0, 1)]);
    const after = Buffer.concat([pemLines(der, LABEL, known, pemLineCount(der.length), previous), pemFoot(LABEL)]);
    published = { der, pem: Buffer.concat([before, middle.bytes, after]) };
    return { before, after: tail.length > 0 ? Buffer.concat([after, tail]) : after };
  });
  try {
    await store.putCrlStaged(middle, ends);
  } catch (e) {
    if (e instanceof MovedBySignature) return undefined;
    throw e;
  }
  return published;
}
