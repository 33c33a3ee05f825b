/**
 * Puppet Server's CA directory layout (reference/puppetserver-ca.md section 2): names and
 * modes in one place, so the store and its tests agree with what Puppet's tools expect.
 */
import { join } from "node:path";

export type Kind = "request" | "certificate";

export const MODES = {
  cadir: 0o750,
  subdir: 0o750,
  publicFile: 0o644,
  /** Puppet uses 0640; we write 0600 and keep an existing stricter mode. */
  caKey: 0o600,
  /** inventory.txt and infra_inventory.txt are 0640 in Puppet's layout. */
  inventory: 0o640,
  /** fleetca's audit.log and revocation records: names and who did what, readable as the inventory is. */
  records: 0o640,
} as const;

export class Layout {
  readonly caCrt: string;
  readonly caKey: string;
  readonly caPub: string;
  readonly caCrl: string;
  readonly infraCrl: string;
  readonly infraInventory: string;
  readonly infraSerials: string;
  readonly inventory: string;
  readonly serial: string;
  readonly requests: string;
  readonly signed: string;
  /** Not Puppet's: fleetca's lock and index live beside Puppet's files and are ignored by Puppet. */
  readonly lock: string;
  readonly journal: string;
  /** The durable journal of certificate changes (commit-journal.ts); not a cache. */
  readonly commitJournal: string;
  /** fleetca's audit trail, one JSON object per line (audit-log.ts). */
  readonly audit: string;
  /** fleetca's revocation records, tab-separated (revocations.ts); the CRL is a view of them. */
  readonly revocations: string;

  constructor(readonly cadir: string) {
    this.caCrt = join(cadir, "ca_crt.pem");
    this.caKey = join(cadir, "ca_key.pem");
    this.caPub = join(cadir, "ca_pub.pem");
    this.caCrl = join(cadir, "ca_crl.pem");
    this.infraCrl = join(cadir, "infra_crl.pem");
    this.infraInventory = join(cadir, "infra_inventory.txt");
    this.infraSerials = join(cadir, "infra_serials");
    this.inventory = join(cadir, "inventory.txt");
    this.serial = join(cadir, "serial");
    this.requests = join(cadir, "requests");
    this.signed = join(cadir, "signed");
    this.lock = join(cadir, ".fleetca.lock");
    this.journal = join(cadir, "fleetca_index.jsonl");
    this.commitJournal = join(cadir, "fleetca_journal.log");
    this.audit = join(cadir, "audit.log");
    this.revocations = join(cadir, "fleetca_revocations.tsv");
  }

  dirFor(kind: Kind): string {
    return kind === "request" ? this.requests : this.signed;
  }

  /** requests/<name>.pem or signed/<name>.pem, after refusing names that would escape the directory. */
  pemPath(kind: Kind, name: string): string {
    assertSafeName(name);
    return join(this.dirFor(kind), pemFileName(name));
  }
}

/** Longest file name ext4, xfs and btrfs take, in bytes. */
const NAME_MAX = 255;
/** The suffix of a name too long for `.pem`; no certname contains "~" (ca/names.ts). */
const LONG_SUFFIX = "~";

/**
 * `<name>.pem`, Puppet's file name, whenever it fits in NAME_MAX. A certname may be 253
 * characters (the DNS limit), and `<name>.pem` of one over 251 does not fit, so those few
 * are kept as `<name>~`: Puppet cannot store such a name at all, and its tools skip the file.
 */
export function pemFileName(name: string): string {
  return Buffer.byteLength(name) + 4 <= NAME_MAX ? `${name}.pem` : `${name}${LONG_SUFFIX}`;
}

/** The name whose file pemFileName gave `file`, or undefined for any other file. */
export function nameOfPemFile(file: string): string | undefined {
  if (file.endsWith(".pem")) return file.slice(0, -4);
  if (file.endsWith(LONG_SUFFIX) && Buffer.byteLength(file) > NAME_MAX - 4 + LONG_SUFFIX.length) return file.slice(0, -LONG_SUFFIX.length);
  return undefined;
}

/**
 * The ca validates certnames; this is only the last line of defence against leaving the
 * directory. Deliberately narrow: Puppet accepts names such as "host.example.com." and
 * single labels, so only the forms that could traverse or truncate a path are refused.
 */
export function assertSafeName(name: string): void {
  if (name === "" || name === "." || name === ".." || /[/\\\0]/.test(name)) {
    throw new Error(`Refusing unsafe certificate name ${JSON.stringify(name)}: it cannot be used as a file name`);
  }
}

/** True for a name assertSafeName accepts; used when scanning directories written by others. */
export function isSafeName(name: string): boolean {
  return !(name === "" || name === "." || name === ".." || /[/\\\0]/.test(name));
}

/** The error for a missing CA file or directory: says where we looked and how to create one. */
export function noCaError(cadir: string, missing: string): Error {
  return new Error(
    `No CA in ${cadir}: ${missing} is missing. ` +
      `Run \`fleetca ca setup --cadir ${cadir}\` to create one, or check --cadir.`,
  );
}
