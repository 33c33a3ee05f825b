/**
 * The agent's ssldir in Puppet's layout, so `puppet ssl show`/`verify` and a later Puppet agent can read it:
 *   certs/ca.pem  crl.pem  private_keys/NAME.pem  public_keys/NAME.pem  certificate_requests/NAME.pem  certs/NAME.pem
 * Every write is atomic (temporary file, fsync, rename) so a crash never leaves half a key or certificate behind.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";

/** Puppet's directory modes (ssldir 0771, private dirs 0750); the private key itself is 0600 (Puppet uses 0640). */
const DIRS: readonly [string, number][] = [
  ["certs", 0o755],
  ["private_keys", 0o750],
  ["public_keys", 0o755],
  ["certificate_requests", 0o755],
  ["private", 0o750],
];
const SSLDIR_MODE = 0o771;
export const KEY_MODE = 0o600;
export const PUBLIC_MODE = 0o644;

export type SslFile = "ca" | "crl" | "privateKey" | "publicKey" | "request" | "cert";

export const FILE_LABELS: Readonly<Record<SslFile, string>> = {
  ca: "local CA certificate",
  crl: "local CRL",
  privateKey: "private key",
  publicKey: "public key",
  request: "certificate request",
  cert: "certificate",
};

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException)?.code === "ENOENT";

export class Ssldir {
  constructor(
    readonly root: string,
    readonly certname: string,
  ) {}

  path(file: SslFile): string {
    const n = `${this.certname}.pem`;
    switch (file) {
      case "ca":
        return path.join(this.root, "certs", "ca.pem");
      case "crl":
        return path.join(this.root, "crl.pem");
      case "privateKey":
        return path.join(this.root, "private_keys", n);
      case "publicKey":
        return path.join(this.root, "public_keys", n);
      case "request":
        return path.join(this.root, "certificate_requests", n);
      case "cert":
        return path.join(this.root, "certs", n);
    }
  }

  /** Creates the directories that are missing, with Puppet's modes (explicit chmod: the umask must not narrow them). */
  async ensureLayout(): Promise<void> {
    await makeDir(this.root, SSLDIR_MODE);
    for (const [dir, mode] of DIRS) await makeDir(path.join(this.root, dir), mode);
  }

  /** The file's text, or undefined when it does not exist. */
  async read(file: SslFile): Promise<string | undefined> {
    try {
      return await fs.readFile(this.path(file), "utf8");
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  async write(file: SslFile, text: string): Promise<void> {
    await this.ensureLayout();
    await atomicWrite(this.path(file), text, file === "privateKey" ? KEY_MODE : PUBLIC_MODE);
  }

  /** True when the file existed. */
  async remove(file: SslFile): Promise<boolean> {
    try {
      await fs.unlink(this.path(file));
      return true;
    } catch (e) {
      if (isMissing(e)) return false;
      throw e;
    }
  }

  /** When the file was last written or confirmed current (refresh intervals are measured from it). */
  async updatedAt(file: SslFile): Promise<Date | undefined> {
    try {
      return (await fs.stat(this.path(file))).mtime;
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  /** Records that the file was confirmed current at `when` (the injected clock, so tests can move time). */
  async markUpdated(file: SslFile, when: Date): Promise<void> {
    await fs.utimes(this.path(file), when, when);
  }
}

async function makeDir(dir: string, mode: number): Promise<void> {
  try {
    await fs.mkdir(dir, { mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return;
    if (isMissing(e)) {
      // A missing parent: create it plainly (it is not ours to give Puppet's modes), then this one.
      await fs.mkdir(path.dirname(dir), { recursive: true });
      return makeDir(dir, mode);
    }
    throw e;
  }
  await fs.chmod(dir, mode);
}

/** Write to a sibling temporary file, fsync, rename over the target, then fsync the directory. */
export async function atomicWrite(target: string, text: string, mode: number): Promise<void> {
  const tmp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const fh = await fs.open(tmp, "wx", mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(text, "utf8");
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, target);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  const dir = await fs.open(path.dirname(target), "r").catch(() => undefined);
  if (dir) {
    await dir.sync().catch(() => undefined);
    await dir.close();
  }
}
