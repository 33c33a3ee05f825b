/**
 * An in-memory CaStore for in-process tests: the server and CA run against it without a
 * directory, so inject tests stay fast and independent of the file store's progress.
 */
import type { CaMaterial, CaStore, IndexEntry, InventoryEntry, Summarize } from "../../src/ca/store.js";
import { StoreConflictError } from "../../src/ca/store.js";

export class MemoryStore implements CaStore {
  readonly location = "memory:";
  private material?: CaMaterial;
  private serial = 1n;
  private version = 0;
  private readonly requests = new Map<string, { pem: string; entry: IndexEntry }>();
  private readonly certs = new Map<string, { pem: string; entry: IndexEntry }>();
  private readonly inventory: InventoryEntry[] = [];
  private lock: Promise<unknown> = Promise.resolve();

  async isInitialized(): Promise<boolean> {
    return this.material !== undefined;
  }

  async initialize(material: CaMaterial, opts: { firstSerial: bigint; overwrite?: boolean; caInventory?: InventoryEntry | null }): Promise<void> {
    if (this.material && !opts.overwrite) throw new StoreConflictError("a CA exists");
    this.material = { ...material };
    if (opts.caInventory) this.inventory.push(opts.caInventory);
    this.serial = opts.firstSerial;
    this.version++;
  }

  async loadCaMaterial(): Promise<CaMaterial> {
    if (!this.material) throw new Error("no CA");
    return { ...this.material };
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  async allocateSerial(): Promise<bigint> {
    return this.serial++;
  }

  async peekSerial(): Promise<bigint> {
    return this.serial;
  }

  async putRequest(name: string, csrPem: string, entry: IndexEntry): Promise<void> {
    this.requests.set(name, { pem: csrPem, entry });
  }

  async getRequest(name: string): Promise<string | undefined> {
    return this.requests.get(name)?.pem;
  }

  async deleteRequest(name: string): Promise<boolean> {
    return this.requests.delete(name);
  }

  async putCertificate(name: string, certPem: string, inventory: InventoryEntry, entry: IndexEntry): Promise<void> {
    this.certs.set(name, { pem: certPem, entry });
    this.inventory.push(inventory);
  }

  async getCertificate(name: string): Promise<string | undefined> {
    return this.certs.get(name)?.pem;
  }

  async deleteCertificate(name: string): Promise<boolean> {
    return this.certs.delete(name);
  }

  async listIndex(_summarize: Summarize): Promise<IndexEntry[]> {
    const all = [...[...this.requests.values()].map((r) => r.entry), ...[...this.certs.values()].map((c) => c.entry)];
    return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async getIndexEntry(name: string, _summarize: Summarize): Promise<{ request?: IndexEntry; certificate?: IndexEntry }> {
    return { request: this.requests.get(name)?.entry, certificate: this.certs.get(name)?.entry };
  }

  async readInventory(): Promise<InventoryEntry[]> {
    return [...this.inventory];
  }

  async getCrl(): Promise<string> {
    return this.material?.crlPem ?? "";
  }

  async putCrl(crlPem: string): Promise<void> {
    if (!this.material) throw new Error("no CA");
    this.material = { ...this.material, crlPem };
    this.version++;
  }

  async materialVersion(): Promise<string> {
    return String(this.version);
  }

  async close(): Promise<void> {}
}
