/** Creating a CA (Puppet's first-boot CA) and importing an external one. */
import type { KeyObject } from "node:crypto";
import { certToPem, issueCertificate, parseCertificateChain, verifySignedBy } from "../pki/certificate.js";
import { crlStateFromPem, crlToPem, emptyCrlState, signCrl } from "../pki/crl.js";
import { keyIdentifier } from "../pki/extensions.js";
import { generateKeyPair, loadPrivateKey, privateKeyToPem, publicKeyToPem, spkiDer, type KeySpec } from "../pki/keys.js";
import { cnName } from "../pki/name.js";
import { caExtensions } from "../pki/profile.js";
import { auditRecord } from "./audit.js";
import { crlNextUpdate } from "./crl-hygiene.js";
import { CaError } from "./errors.js";
import { systemPrincipal, type Principal } from "./principal.js";
import type { CaStore } from "./store.js";

const DAY_MS = 86_400_000;

export interface SetupOptions {
  caName: string;
  key: KeySpec;
  /** Seconds. */
  caTtl: number;
  now: Date;
  overwrite?: boolean;
  /** Who set it up, for the audit trail; default fleetca itself (a server's first start). */
  by?: Principal;
  /** Seconds the first CRL is valid (crl_ttl); default Puppet's five years. */
  crlTtl?: number;
}

/** A self-signed CA, serial 1, an empty CRL; the next serial is 2, as Puppet starts. */
export async function setupCa(store: CaStore, o: SetupOptions): Promise<{ certPem: string }> {
  if ((await store.isInitialized()) && !o.overwrite) {
    throw new CaError("already-initialized", `A CA already exists at ${store.location}. To replace it, move that directory away first (fleetca never overwrites a CA key).`);
  }
  const keys = await generateKeyPair(o.key);
  const spki = spkiDer(keys.publicKey);
  const name = cnName(o.caName);
  const der = await issueCertificate(
    { serial: 1n, issuer: name, subject: name, notBefore: new Date(o.now.getTime() - DAY_MS), notAfter: new Date(o.now.getTime() + o.caTtl * 1000), spki, extensions: caExtensions(spki) },
    keys.privateKey,
  );
  const crl = await signCrl(emptyCrlState(name, keyIdentifier(spki), o.now, crlNextUpdate(o.now, o.crlTtl)), keys.privateKey);
  const certPem = certToPem(der);
  await store.initialize(
    { certPem, keyPem: privateKeyToPem(keys.privateKey), publicKeyPem: publicKeyToPem(keys.publicKey), crlPem: crlToPem(crl) },
    { firstSerial: 2n, overwrite: o.overwrite, caInventory: { serial: 1n, notBefore: new Date(o.now.getTime() - DAY_MS), notAfter: new Date(o.now.getTime() + o.caTtl * 1000), subject: `/CN=${o.caName}` } },
  );
  await store.appendAudit([auditRecord(o.now, "setup", o.by ?? systemPrincipal("fleetca"), { serials: [1n], detail: `${o.caName}; ${o.key.type === "rsa" ? `RSA ${o.key.bits}` : `EC ${o.key.curve}`}` })]);
  return { certPem };
}

export interface ImportInput {
  certBundlePem: string;
  privateKeyPem: string;
  crlChainPem: string;
  now: Date;
  /** The next serial of the CA being imported (its `serial` file, or the operator's --next-serial), when known. */
  nextSerial?: bigint;
  /**
   * Serials the old CA issued (its inventory, its signed certificates), when they could be
   * read; undefined when neither was found.
   */
  issuedSerials?: Iterable<bigint>;
  by?: Principal;
}

/**
 * Takes over an external CA (an intermediate under an outside root, or a Puppet CA's files).
 * Checks that key, certificate and CRL belong together. Serials continue past every serial
 * the old CA is known to have issued (its serial file, inventory, signed certificates, CRL),
 * so none repeats: a repeated serial would make revoking the new certificate revoke an old
 * one too. When nothing says what was issued, the import is refused rather than guessed.
 */
export async function importCa(store: CaStore, i: ImportInput): Promise<{ firstSerial: bigint }> {
  if (await store.isInitialized()) {
    throw new CaError("already-initialized", `A CA already exists at ${store.location}; import into an empty directory.`);
  }
  const chain = parseCertificateChain(i.certBundlePem);
  const ca = chain[0];
  if (!ca) throw new CaError("invalid-ca-material", "The certificate bundle holds no PEM certificate; pass the CA certificate first, then its issuers.");
  let key: KeyObject;
  try {
    key = loadPrivateKey(i.privateKeyPem, "CA private key");
  } catch (e) {
    throw new CaError("invalid-ca-material", (e as Error).message);
  }
  if (!spkiDer(key).equals(ca.spki)) throw new CaError("invalid-ca-material", "The private key does not match the first certificate of the bundle; pass the key of the CA certificate that will issue.");
  for (let n = 0; n + 1 < chain.length; n++) {
    const c = chain[n]!;
    if (!verifySignedBy(c.tbs, c.signatureOid, c.signature, chain[n + 1]!.spki)) {
      throw new CaError("invalid-ca-material", `Certificate ${n + 1} of the bundle (${c.commonName}) is not signed by the next one; order the bundle from the CA up to the root.`);
    }
  }
  let crlPem: string;
  let maxRevoked = 0n;
  try {
    const st = crlStateFromPem(i.crlChainPem);
    if (!st.issuer.equals(ca.subjectDer)) throw new CaError("invalid-ca-material", "The first CRL of the CRL chain is not issued by the CA certificate; pass the CA's own CRL first.");
    for (const s of st.serials) if (s > maxRevoked) maxRevoked = s;
    crlPem = i.crlChainPem;
  } catch (e) {
    if (e instanceof CaError) throw e;
    throw new CaError("invalid-ca-material", `The CRL chain cannot be read: ${(e as Error).message}`);
  }
  if (i.nextSerial === undefined && i.issuedSerials === undefined) {
    throw new CaError(
      "invalid-request",
      "Cannot tell which serials this CA already issued: no serial file, inventory.txt or signed/ directory was found beside the certificate bundle. " +
        "Pass the old CA's serial file with --serial-file (a Puppet CA keeps it as <cadir>/serial), or the first serial to use with --next-serial HEX, so that no new certificate repeats an old serial.",
    );
  }
  let maxIssued = 0n;
  for (const s of i.issuedSerials ?? []) if (s > maxIssued) maxIssued = s;
  const candidates = [2n, maxRevoked + 1n, maxIssued + 1n, i.nextSerial ?? 0n, chain.some((c) => c.issuerDer.equals(c.subjectDer)) ? ca.serial + 1n : 0n];
  const firstSerial = candidates.reduce((a, b) => (b > a ? b : a));
  await store.initialize({ certPem: i.certBundlePem, keyPem: i.privateKeyPem, publicKeyPem: publicKeyToPem(key), crlPem }, { firstSerial });
  await store.appendAudit([auditRecord(i.now, "imported", i.by ?? systemPrincipal("fleetca"), { detail: `${ca.commonName}; next serial ${firstSerial.toString(16).toUpperCase()}` })]);
  return { firstSerial };
}
