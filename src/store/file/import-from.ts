/**
 * Writes another store's CA into an empty directory in Puppet's layout (`fleetca ca migrate --to DIR`): CA
 * material, requests, certificates, the whole inventory (lines of certificates since cleaned too), the CRL, the
 * revocation records and the audit trail; the serial continues where the source's does.
 */
import type { CaStore, Summarize } from "../../ca/store.js";
import { writeFileAtomic } from "./atomic.js";
import { formatInventoryLine } from "./formats.js";
import type { FileStore } from "./index.js";
import { Layout, MODES } from "./layout.js";

export interface FileCopyCounts {
  requests: number;
  certificates: number;
  inventory: number;
  revocations: number;
  audit: number;
}

export async function importIntoFileStore(target: FileStore, source: CaStore, summarize: Summarize): Promise<FileCopyCounts> {
  return source.withLock(async () => {
    // No CA inventory line of its own: the source's inventory, written whole below, has it.
    await target.initialize(await source.loadCaMaterial(), { firstSerial: await source.peekSerial(), caInventory: null });
    const counts: FileCopyCounts = { requests: 0, certificates: 0, inventory: 0, revocations: 0, audit: 0 };
    const inventory = await source.readInventory();
    const bySerial = new Map(inventory.map((e) => [e.serial, e]));
    for (const e of await source.listIndex(summarize)) {
      if (e.state === "requested") {
        const pem = await source.getRequest(e.name);
        if (pem === undefined) continue;
        await target.putRequest(e.name, pem, e);
        counts.requests++;
      } else {
        const pem = await source.getCertificate(e.name);
        if (pem === undefined || e.serial === undefined) continue;
        const line = bySerial.get(e.serial) ?? { serial: e.serial, notBefore: e.notBefore!, notAfter: e.notAfter!, subject: `/CN=${e.name}` };
        await target.putCertificate(e.name, pem, line, e);
        counts.certificates++;
      }
    }
    // putCertificate appended a line per current certificate; the source's inventory replaces them, in its order.
    await writeFileAtomic(new Layout(target.location).inventory, inventory.map(formatInventoryLine).join(""), MODES.inventory);
    counts.inventory = inventory.length;
    await target.putCrl(await source.getCrl());
    const revocations = await source.listRevocations();
    if (revocations.length > 0) await target.putRevocations(revocations, []);
    counts.revocations = revocations.length;
    const audit = await source.readAudit({});
    if (audit.length > 0) await target.appendAudit(audit);
    counts.audit = audit.length;
    return counts;
  });
}
