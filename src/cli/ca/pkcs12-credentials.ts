/**
 * `ca regenerate --format pkcs12`: an infrastructure host's key, certificate and CA in one
 * PKCS#12 file (NAME/pkcs12/NAME.p12, 0600), for services that read a keystore. Its passphrase
 * is the first line of --pkcs12-passphrase-file; without one, a random passphrase is made and
 * written beside it (NAME.p12.pass, 0600), to be moved into the service's configuration.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parseCertificateChain } from "../../pki/certificate.js";
import { loadPrivateKey } from "../../pki/keys.js";
import { buildPkcs12 } from "../../pki/pkcs12.js";

export interface Pkcs12Written {
  dir: string;
  file: string;
  /** Where the generated passphrase was written; undefined when the operator gave one. */
  passphraseFile?: string;
}

/** The passphrase from --pkcs12-passphrase-file (first line), or undefined to make one per host. */
export function pkcs12PassphraseFrom(file: string | undefined, cwd: string): string | undefined {
  if (file === undefined) return undefined;
  const text = fs.readFileSync(path.resolve(cwd, file), "utf8").split(/\r?\n/)[0] ?? "";
  if (text === "") throw Object.assign(new Error(`the passphrase file ${file} is empty`), { code: "EINVAL" });
  return text;
}

export function writePkcs12(dir: string, name: string, cred: { keyPem: string; certPem: string }, caPem: string, passphrase: string | undefined): Pkcs12Written {
  const d = path.join(dir, name, "pkcs12");
  fs.mkdirSync(d, { recursive: true, mode: 0o750 });
  fs.chmodSync(d, 0o750);
  // 24 random bytes in base64url: printable ASCII, which every PKCS#12 reader encodes alike.
  const pass = passphrase ?? crypto.randomBytes(24).toString("base64url");
  const der = buildPkcs12({
    key: loadPrivateKey(cred.keyPem, `${name}'s private key`),
    certificates: [...parseCertificateChain(cred.certPem), ...parseCertificateChain(caPem)].map((c) => c.der),
    friendlyName: name,
    passphrase: pass,
  });
  const file = path.join(d, `${name}.p12`);
  fs.writeFileSync(file, der, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  if (passphrase !== undefined) return { dir: d, file };
  const passphraseFile = `${file}.pass`;
  fs.writeFileSync(passphraseFile, `${pass}\n`, { mode: 0o600 });
  fs.chmodSync(passphraseFile, 0o600);
  return { dir: d, file, passphraseFile };
}
