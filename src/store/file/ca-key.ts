/**
 * ca_key.pem, in clear as Puppet writes it, or encrypted when the operator gives a passphrase
 * (FLEETCA_CA_PASSPHRASE or FLEETCA_CA_PASSPHRASE_FILE, as for the PostgreSQL store): a
 * standard PKCS#8 EncryptedPrivateKeyInfo, PBES2 with scrypt (N 2^14, r 8, p 1) and
 * AES-256-CBC, which `openssl pkey -in ca_key.pem -passin file:F` reads. Puppet Server itself
 * cannot read an encrypted key: a cadir shared with it keeps the key in clear.
 *
 * Without the passphrase, or with a wrong one, the store still gives the CA certificate and
 * CRL, with a keyProblem instead of the key: signing is refused with that reason, as on
 * PostgreSQL (ca/material.ts).
 */
import { createPublicKey } from "node:crypto";
import { decryptPrivateKeyPem, encryptPrivateKeyPem, isEncryptedKeyPem, WrongKeyPassphraseError } from "../../pki/encrypted-key.js";
import { loadPrivateKey, privateKeyToPem } from "../../pki/keys.js";
import { PASSPHRASE_ENV, PASSPHRASE_FILE_ENV } from "../passphrase.js";

const GIVE = `set ${PASSPHRASE_ENV}, or ${PASSPHRASE_FILE_ENV} to a file holding it`;

export class PassphraseError extends Error {
  readonly code = "FLEETCA_PASSPHRASE";
  constructor(message: string) {
    super(message);
    this.name = "PassphraseError";
  }
}

export class CaKeyFile {
  /** The key last opened: scrypt is not paid again for every reload, and a key rotated under a running server keeps signing. */
  private opened?: { raw: string; publicKeyPem: string; keyPem: string };

  constructor(
    private readonly path: string,
    private readonly passphrase: string | undefined,
  ) {}

  get encrypting(): boolean {
    return this.passphrase !== undefined;
  }

  /** What initialize writes: the key encrypted when a passphrase was given, else as it came. */
  encode(keyPem: string): string {
    if (this.passphrase === undefined) return keyPem;
    return encryptPrivateKeyPem(loadPrivateKey(keyPem, "CA private key"), this.passphrase);
  }

  /** The key in clear (in memory only), or why it cannot be had. */
  open(raw: string, publicKeyPem: string | undefined): { keyPem: string } | { keyProblem: string } {
    if (!isEncryptedKeyPem(raw)) return { keyPem: raw };
    if (this.opened?.raw === raw) return { keyPem: this.opened.keyPem };
    if (this.passphrase === undefined) return { keyProblem: `${this.path} is encrypted and no passphrase was given: ${GIVE}` };
    try {
      const key = decryptPrivateKeyPem(raw, this.passphrase);
      const keyPem = privateKeyToPem(key);
      this.opened = { raw, keyPem, publicKeyPem: createPublicKey(key).export({ type: "spki", format: "pem" }).toString() };
      return { keyPem };
    } catch (e) {
      if (!(e instanceof WrongKeyPassphraseError)) throw e;
      // Rotated by `fleetca ca passphrase --rotate` while this process ran: the same key, still ours.
      if (this.opened && publicKeyPem !== undefined && this.opened.publicKeyPem.trim() === publicKeyPem.trim()) return { keyPem: this.opened.keyPem };
      return { keyProblem: `the passphrase given does not open ${this.path} (a wrong passphrase, or it was changed with \`fleetca ca passphrase --rotate\`): give the current one (${GIVE})` };
    }
  }

  /** The current key, in clear, for rotation: a clear key needs no passphrase; an encrypted one needs the current one. */
  currentKeyPem(raw: string): string {
    if (!isEncryptedKeyPem(raw)) return raw;
    if (this.passphrase === undefined) throw new PassphraseError(`${this.path} is encrypted and no current passphrase was given: ${GIVE}; nothing was changed.`);
    try {
      return privateKeyToPem(decryptPrivateKeyPem(raw, this.passphrase));
    } catch (e) {
      if (e instanceof WrongKeyPassphraseError) throw new PassphraseError(`The current passphrase does not open ${this.path}; nothing was changed.`);
      throw e;
    }
  }
}

export { isEncryptedKeyPem };
