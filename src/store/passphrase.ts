/**
 * The CA key's passphrase, from the environment: FLEETCA_CA_PASSPHRASE, or the file named by
 * FLEETCA_CA_PASSPHRASE_FILE (a secret mounted by systemd's LoadCredential, Kubernetes, Vault
 * agent...). Never from a flag: a command line shows in `ps`.
 */
import fs from "node:fs";

export const PASSPHRASE_ENV = "FLEETCA_CA_PASSPHRASE";
export const PASSPHRASE_FILE_ENV = "FLEETCA_CA_PASSPHRASE_FILE";

/** The passphrase, or undefined when neither variable is set. Throws when the file cannot be read or both are set. */
export function passphraseFrom(env: NodeJS.ProcessEnv, value = PASSPHRASE_ENV, file = PASSPHRASE_FILE_ENV): string | undefined {
  const direct = env[value];
  const path = env[file];
  if (direct && path) throw Object.assign(new Error(`Both ${value} and ${file} are set: keep one.`), { code: "FLEETCA_PASSPHRASE" });
  if (path) {
    let text: string;
    try {
      text = fs.readFileSync(path, "utf8");
    } catch (e) {
      throw Object.assign(new Error(`Cannot read the passphrase file named by ${file} (${path}): ${(e as Error).message}`), { code: "FLEETCA_PASSPHRASE" });
    }
    // A file written by `echo` ends with a line break that is not part of the passphrase.
    const pass = text.replace(/\r?\n$/, "");
    if (pass === "") throw Object.assign(new Error(`The passphrase file ${path} (${file}) is empty.`), { code: "FLEETCA_PASSPHRASE" });
    return pass;
  }
  return direct || undefined;
}
