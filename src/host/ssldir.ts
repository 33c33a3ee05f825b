/**
 * The server's own TLS files in Puppet's ssldir layout (reference 2):
 *   certs/<certname>.pem, private_keys/<certname>.pem (0600), certs/ca.pem, crl.pem
 * Written atomically (temporary file + rename) so a reader never sees half a key.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile, chmod } from "node:fs/promises";
import path from "node:path";

export interface SsldirPaths {
  cert: string;
  key: string;
  ca: string;
  crl: string;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}

export class Ssldir {
  constructor(readonly dir: string) {}

  paths(certname: string): SsldirPaths {
    return {
      cert: path.join(this.dir, "certs", `${certname}.pem`),
      key: path.join(this.dir, "private_keys", `${certname}.pem`),
      ca: path.join(this.dir, "certs", "ca.pem"),
      crl: path.join(this.dir, "crl.pem"),
    };
  }

  async readIdentity(certname: string): Promise<{ certPem?: string; keyPem?: string }> {
    const p = this.paths(certname);
    return { certPem: await readIfExists(p.cert), keyPem: await readIfExists(p.key) };
  }

  private async ensureDirs(): Promise<void> {
    // Puppet's modes: ssldir 0771, certs 0755, private_keys 0750.
    // chmod after mkdir: mkdir's mode is filtered by the umask.
    for (const [dir, mode] of [[this.dir, 0o771], [path.join(this.dir, "certs"), 0o755], [path.join(this.dir, "private_keys"), 0o750]] as const) {
      await mkdir(dir, { recursive: true, mode });
      await chmod(dir, mode);
    }
  }

  async writeIdentity(certname: string, keyPem: string, certPem: string): Promise<void> {
    await this.ensureDirs();
    const p = this.paths(certname);
    await writeAtomic(p.key, keyPem, 0o600);
    await chmod(p.key, 0o600); // in case a umask or an older file had looser bits
    await writeAtomic(p.cert, certPem, 0o644);
  }

  /** The CA bundle and CRL an agent on this host (or an operator) reads. */
  async writeCa(caPem: string, crlPem: string): Promise<void> {
    await this.ensureDirs();
    const p = this.paths("ca");
    await writeAtomic(p.ca, caPem, 0o644);
    await writeAtomic(p.crl, crlPem, 0o644);
  }
}
