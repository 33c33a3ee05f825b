/** Archive files on disk for `ca backup`, `ca restore` and `ca regenerate`: written 0600 and durably, read as streams. */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { SsldirPort } from "../../ca/lifecycle/backup.js";
import type { Settings } from "../../config/index.js";
import { fsyncDir } from "../../store/file/atomic.js";
import { exportTree, importTree } from "../../store/file/tree.js";
import type { Io } from "../io.js";
import { serverSsldir } from "../server.js";

/** The passphrase from --passphrase-file (its first line) or FLEETCA_BACKUP_PASSPHRASE; undefined for none. */
export function passphraseFrom(file: string | undefined, io: Io): string | undefined {
  if (file !== undefined) {
    const text = fs.readFileSync(path.resolve(io.cwd, file), "utf8").split(/\r?\n/)[0] ?? "";
    if (text === "") throw Object.assign(new Error(`the passphrase file ${file} is empty`), { code: "EINVAL" });
    return text;
  }
  const env = io.env.FLEETCA_BACKUP_PASSPHRASE;
  return env === undefined || env === "" ? undefined : env;
}

export const stampNow = (now = new Date()) => now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");

/**
 * Where a backup goes when --out is not given: beside the CA directory (file store) or in the working directory.
 * Two backups within one second (a restore of the backup a restore just made) get `-2`, `-3`... rather than
 * the second one failing on the first's name.
 */
export function defaultArchivePath(settings: Settings, io: Io, prefix = "fleetca-backup"): string {
  const dir = settings.store === "file:" || settings.store === "" || settings.store === "file" ? path.dirname(path.resolve(io.cwd, settings.cadir)) : io.cwd;
  const stem = path.join(dir, `${prefix}-${stampNow()}`);
  let file = `${stem}.fleetca`;
  for (let n = 2; fs.existsSync(file); n++) file = `${stem}-${n}.fleetca`;
  return file;
}

/** A sink writing chunks to `file` (0600, new file only), durably; resolves with the file's SHA-256. */
export function fileSink(file: string): { sink: (chunks: AsyncIterable<Buffer>) => Promise<void>; digest: () => string } {
  const hash = createHash("sha256");
  let digest: string | undefined;
  return {
    digest: () => digest ?? "",
    sink: async (chunks) => {
      const tmp = `${file}.partial-${process.pid}`;
      const fh = await fs.promises.open(tmp, "wx", 0o600);
      try {
        await fh.chmod(0o600);
        for await (const c of chunks) {
          hash.update(c);
          await fh.write(c);
        }
        await fh.sync();
      } catch (e) {
        await fh.close();
        await fs.promises.rm(tmp, { force: true });
        throw e;
      }
      await fh.close();
      if (fs.existsSync(file)) {
        await fs.promises.rm(tmp, { force: true });
        throw Object.assign(new Error(`${file} exists: choose another --out (a backup never overwrites a file)`), { code: "EEXIST" });
      }
      await fs.promises.rename(tmp, file);
      await fsyncDir(path.dirname(file));
      digest = hash.digest("hex");
    },
  };
}

export function fileSource(file: string): () => AsyncIterable<Buffer> {
  return () => fs.createReadStream(file, { highWaterMark: 1 << 20 });
}

/** The server's ssldir (its own key and certificate) as the lifecycle code sees it. */
export function ssldirPort(settings: Settings): SsldirPort {
  const dir = serverSsldir(settings);
  return {
    dir,
    exists: () => fs.existsSync(dir),
    export: () => exportTree(dir),
    import: async (items) => void (await importTree(dir, items)),
  };
}
