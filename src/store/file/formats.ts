/**
 * Puppet's text formats for the `serial` file and inventory.txt.
 *
 * Quirks kept for compatibility: Puppet Server writes the serial as `%04X` with no trailing
 * newline ("0003", "17D9"), while the Ruby `puppetserver ca setup` writes two digits ("03");
 * both are read. Inventory dates carry a literal "UTC" suffix instead of ISO 8601's "Z".
 */
import type { InventoryEntry } from "../../ca/store.js";

/** Upper-case hex, at least four digits: Puppet's `%04X`. */
export function formatSerialHex(serial: bigint): string {
  if (serial < 0n) throw new Error(`Serial numbers cannot be negative (got ${serial})`);
  return serial.toString(16).toUpperCase().padStart(4, "0");
}

/** Parses a `serial` file, tolerating lower case, fewer digits and surrounding whitespace. */
export function parseSerialFile(text: string, path: string): bigint {
  const hex = text.trim();
  if (!/^[0-9A-Fa-f]+$/.test(hex)) {
    throw new Error(`${path} does not contain a hexadecimal serial number (found ${JSON.stringify(text.slice(0, 40))})`);
  }
  return BigInt(`0x${hex}`);
}

/** "2026-11-22T03:17:34UTC" */
export function formatInventoryDate(date: Date): string {
  return `${date.toISOString().slice(0, 19)}UTC`;
}

export function parseInventoryDate(text: string): Date | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)UTC$/.exec(text);
  if (!m) return undefined;
  const date = new Date(`${m[1]}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** One newline-terminated inventory line: `0x0003 <not-before> <not-after> /CN=name`. */
export function formatInventoryLine(entry: InventoryEntry): string {
  if (/[\r\n]/.test(entry.subject)) throw new Error(`Subject ${JSON.stringify(entry.subject)} contains a line break`);
  const serial = formatSerialHex(entry.serial);
  return `0x${serial} ${formatInventoryDate(entry.notBefore)} ${formatInventoryDate(entry.notAfter)} ${entry.subject}\n`;
}

/**
 * Parses inventory.txt. Lines that do not match (a torn last line after a crash,
 * hand edits) are skipped: the inventory is an audit log, not something to refuse to start over.
 */
export function parseInventory(text: string): InventoryEntry[] {
  const out: InventoryEntry[] = [];
  const lines = text.split("\n");
  // Whatever follows the last newline is a line still being written, or torn by a crash.
  lines.pop();
  for (const line of lines) {
    const m = /^0x([0-9A-Fa-f]+) (\S+) (\S+) (.*?)\r?$/.exec(line);
    if (!m) continue;
    const notBefore = parseInventoryDate(m[2] as string);
    const notAfter = parseInventoryDate(m[3] as string);
    if (!notBefore || !notAfter) continue;
    out.push({ serial: BigInt(`0x${m[1] as string}`), notBefore, notAfter, subject: m[4] as string });
  }
  return out;
}
