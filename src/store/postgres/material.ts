/**
 * The CA material's rows: what initialize writes (CA, CRL, serial counter, a fresh inventory
 * starting with the CA's own line) and the inventory's line rules.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { StoreConflictError, type CaMaterial, type InventoryEntry } from "../../ca/store.js";
// The CA's inventory line is read with node:crypto, not the pki layer (stores must not import it);
// the file store already has that reader, and both stores must write the same line.
import { caInventoryEntry } from "../file/ca-inventory.js";
import { SCHEMA as S } from "./migrations.js";
import type { SealedKey } from "./sealed-key.js";

/** CaStore's initialize options; `caInventory: null` starts with an empty inventory. */
export interface InitializeOptions {
  firstSerial: bigint;
  overwrite?: boolean;
  caInventory?: InventoryEntry | null;
}

/** initialize's work, inside the caller's transaction (initialize and importFrom). */
export async function initializeIn(c: pg.PoolClient, location: string, material: CaMaterial, opts: InitializeOptions, sealed: SealedKey): Promise<void> {
  // The key is written sealed only (sealed-key.ts); key_pem is for databases from before migration 3.
  const values = [material.certPem, JSON.stringify(sealed), material.publicKeyPem, randomUUID()];
  const insert = `INSERT INTO ${S}.ca (id, cert_pem, key_pem, key_sealed, public_key_pem, epoch, version) VALUES (1, $1, NULL, $2::jsonb, $3, $4, 1)`;
  if (opts.overwrite) {
    await c.query(
      `${insert} ON CONFLICT (id) DO UPDATE SET cert_pem = EXCLUDED.cert_pem, key_pem = NULL, key_sealed = EXCLUDED.key_sealed,
         public_key_pem = EXCLUDED.public_key_pem, epoch = EXCLUDED.epoch, version = ${S}.ca.version + 1, updated_at = now()`,
      values,
    );
  } else {
    // DO NOTHING rather than check-then-insert: a concurrent initialize blocks on the key, then sees the conflict.
    const { rowCount } = await c.query(`${insert} ON CONFLICT (id) DO NOTHING`, values);
    if (!rowCount) {
      throw new StoreConflictError(
        `A CA already exists in ${location}. fleetca never replaces a CA key; ` +
          `to start over, back up and drop the "${S}" schema first (the key cannot be recovered).`,
        [location],
      );
    }
  }
  // A new inventory that starts with the CA's own line, as Puppet's and the file store's do.
  await c.query(`TRUNCATE ${S}.inventory`);
  // Records of a replaced CA's serials do not describe the new one: its CRL (rebuilt from
  // when first listed) is the whole truth. The audit trail stays, as the CA's history.
  await c.query(`TRUNCATE ${S}.revocations`);
  const caLine = opts.caInventory === null ? undefined : (opts.caInventory ?? caInventoryEntry(material.certPem));
  if (caLine) await insertInventory(c, caLine);
  await c.query(
    `INSERT INTO ${S}.crl (id, pem) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET pem = EXCLUDED.pem, updated_at = now()`,
    [material.crlPem],
  );
  await c.query(
    `INSERT INTO ${S}.serial_counter (id, next_serial) VALUES (1, $1::numeric) ON CONFLICT (id) DO UPDATE SET next_serial = EXCLUDED.next_serial`,
    [opts.firstSerial.toString()],
  );
}

export function inventoryParams(e: InventoryEntry): unknown[] {
  return [e.serial.toString(), e.notBefore, e.notAfter, e.subject];
}

async function insertInventory(c: pg.PoolClient, e: InventoryEntry): Promise<void> {
  assertSubject(e.subject);
  await c.query(`INSERT INTO ${S}.inventory (serial, not_before, not_after, subject) VALUES ($1::numeric, $2, $3, $4)`, inventoryParams(e));
}

/** inventory.txt is line-based: a subject with a line break would forge a line when exported. */
export function assertSubject(subject: string): void {
  if (/[\r\n]/.test(subject)) throw new Error(`Subject ${JSON.stringify(subject)} contains a line break`);
}
