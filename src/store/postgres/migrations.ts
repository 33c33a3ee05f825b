/**
 * The PostgreSQL store's schema, applied at open. Migrations are numbered and recorded in
 * fleetca.schema_migrations; open() applies the missing ones under a transaction-scoped
 * advisory lock, so several CA servers starting at once against an empty database do not
 * race on CREATE (concurrent CREATE ... IF NOT EXISTS can still fail on the catalog's
 * unique indexes). Never edit a migration that has shipped: append a new one.
 */
import type { Pool } from "pg";
import { inTransaction } from "./tx.js";

/** Every table lives in this schema; the name is a constant, never taken from input. */
export const SCHEMA = "fleetca";

/** pg_advisory_xact_lock key for migrations ("fleetca" + 0x02); the CA lock uses 0x01. */
const MIGRATION_LOCK_KEY = "7380385375772172546";

const MIGRATIONS: readonly string[] = [
  // 1: the CA's material, serial counter, requests, certificates, inventory and CRL.
  `
  CREATE TABLE IF NOT EXISTS fleetca.ca (
    id             smallint PRIMARY KEY CHECK (id = 1),
    cert_pem       text NOT NULL,
    key_pem        text NOT NULL,
    public_key_pem text NOT NULL,
    -- Random per initialize: a recreated database never hands out a version token seen before.
    epoch          text NOT NULL,
    -- Bumped by initialize and putCrl; servers poll it to reload the CA cert, key and CRL.
    version        bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
  );
  -- Apart from fleetca.ca so that a 5 MB CRL is not rewritten with the key on every revoke.
  CREATE TABLE IF NOT EXISTS fleetca.crl (
    id         smallint PRIMARY KEY CHECK (id = 1),
    pem        text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  -- A counter row rather than a SEQUENCE: X.509 serials go up to 20 octets (imported CAs may
  -- start beyond bigint), and a row update is transactional where nextval is not.
  CREATE TABLE IF NOT EXISTS fleetca.serial_counter (
    id          smallint PRIMARY KEY CHECK (id = 1),
    next_serial numeric(50, 0) NOT NULL CHECK (next_serial >= 0)
  );
  -- sha256 NULL marks a row inserted by another tool (name and pem only): listing
  -- summarizes it from the PEM and fills the columns in.
  CREATE TABLE IF NOT EXISTS fleetca.requests (
    name            text PRIMARY KEY,
    pem             text NOT NULL,
    sha256          text,
    alt_names       text[] NOT NULL DEFAULT '{}',
    auth_extensions jsonb NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS fleetca.certificates (
    name            text PRIMARY KEY,
    pem             text NOT NULL,
    serial          numeric(50, 0),
    not_before      timestamptz,
    not_after       timestamptz,
    sha256          text,
    alt_names       text[] NOT NULL DEFAULT '{}',
    auth_extensions jsonb NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS certificates_serial ON fleetca.certificates (serial);
  CREATE TABLE IF NOT EXISTS fleetca.inventory (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial      numeric(50, 0) NOT NULL,
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    subject     text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
  );
  -- inventory.txt is an audit log: rows are only ever appended. TRUNCATE stays possible,
  -- for initialize(overwrite), which replaces the inventory as the file store does.
  CREATE OR REPLACE FUNCTION fleetca.inventory_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'fleetca.inventory is append-only (% refused)', TG_OP;
  END $$;
  DROP TRIGGER IF EXISTS inventory_append_only ON fleetca.inventory;
  CREATE TRIGGER inventory_append_only BEFORE UPDATE OR DELETE ON fleetca.inventory
    FOR EACH STATEMENT EXECUTE FUNCTION fleetca.inventory_append_only();
  `,
  // 2: revocation records (the CRL is a view of them) and the audit trail.
  `
  -- One record per revoked serial: a second revoke of a serial keeps the first record.
  -- recorded_at alone cannot order the records of one transaction (now() is the same for
  -- all of them), hence the identity column: listing follows it.
  CREATE TABLE IF NOT EXISTS fleetca.revocations (
    serial      numeric(50, 0) PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    -- '' when only the CRL knew the serial (an imported CA without inventory).
    name        text NOT NULL,
    revoked_at  timestamptz NOT NULL,
    reason      text NOT NULL,
    revoked_by  text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS revocations_name ON fleetca.revocations (name);
  -- Records rebuilt from a CRL take their names from the inventory, by serial.
  CREATE INDEX IF NOT EXISTS inventory_serial ON fleetca.inventory (serial);
  CREATE TABLE IF NOT EXISTS fleetca.audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time      timestamptz NOT NULL,
    action    text NOT NULL,
    outcome   text NOT NULL,
    names     text[] NOT NULL DEFAULT '{}',
    serials   text[] NOT NULL DEFAULT '{}',
    who       text NOT NULL,
    who_kind  text NOT NULL,
    from_addr text NOT NULL,
    reason    text,
    detail    text
  );
  CREATE INDEX IF NOT EXISTS audit_time ON fleetca.audit (time);
  -- readAudit's name filter is "names @> ARRAY[$name]", which this index serves.
  CREATE INDEX IF NOT EXISTS audit_names ON fleetca.audit USING GIN (names);
  CREATE INDEX IF NOT EXISTS audit_action ON fleetca.audit (action, id);
  -- The audit trail is only ever appended, and unlike the inventory no operation empties it:
  -- TRUNCATE is refused too. (Retention is a DBA's decision: disable the trigger to prune.)
  CREATE OR REPLACE FUNCTION fleetca.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'fleetca.audit is append-only (% refused)', TG_OP;
  END $$;
  DROP TRIGGER IF EXISTS audit_append_only ON fleetca.audit;
  CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fleetca.audit
    FOR EACH STATEMENT EXECUTE FUNCTION fleetca.audit_append_only();
  `,
  // Console users and their sessions (store/postgres/accounts.ts).
  `
  CREATE TABLE IF NOT EXISTS fleetca.console_users (
    name          text PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    -- scrypt$N$r$p$salt$hash: never the password.
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
  );
  -- id is the SHA-256 of the browser's token: reading this table hands out no session.
  CREATE TABLE IF NOT EXISTS fleetca.console_sessions (
    id         text PRIMARY KEY,
    username   text NOT NULL REFERENCES fleetca.console_users (name) ON DELETE CASCADE,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    from_addr  text NOT NULL
  );
  CREATE INDEX IF NOT EXISTS console_sessions_user ON fleetca.console_sessions (username);
  `,
  // Re-enrollment tracking after a CA regeneration (store/postgres/tracking.ts), shared by every server.
  `
  CREATE TABLE IF NOT EXISTS fleetca.regeneration (
    id    smallint PRIMARY KEY CHECK (id = 1),
    state jsonb NOT NULL
  );
  CREATE TABLE IF NOT EXISTS fleetca.reenroll_nodes (
    name           text PRIMARY KEY,
    last_seen_at   timestamptz,
    last_seen_addr text,
    dismissed_at   timestamptz
  );
  `,
  // The CA key encrypted at rest (sealed-key.ts), and a notification on every change of
  // the CA material so that servers learn of a revoke without polling (watch.ts). A key
  // still in clear stays in key_pem until a fleetca with the passphrase opens the store and
  // seals it (PostgresStore.open): SQL alone cannot, since the passphrase never reaches the
  // database. Until then fleetca refuses to sign and says why.
  `
  ALTER TABLE fleetca.ca ALTER COLUMN key_pem DROP NOT NULL;
  ALTER TABLE fleetca.ca ADD COLUMN IF NOT EXISTS key_sealed jsonb;
  ALTER TABLE fleetca.ca DROP CONSTRAINT IF EXISTS ca_one_key;
  ALTER TABLE fleetca.ca ADD CONSTRAINT ca_one_key CHECK ((key_pem IS NULL) <> (key_sealed IS NULL));
  CREATE OR REPLACE FUNCTION fleetca.ca_changed() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM pg_notify('fleetca_ca', NEW.epoch || ':' || NEW.version);
    RETURN NULL;
  END $$;
  DROP TRIGGER IF EXISTS ca_changed ON fleetca.ca;
  CREATE TRIGGER ca_changed AFTER INSERT OR UPDATE ON fleetca.ca FOR EACH ROW EXECUTE FUNCTION fleetca.ca_changed();
  `,
  // Pages of the console's lists (index-query.ts) in the orders it offers, read in index
  // order with LIMIT instead of sorting every row: names in code-unit order (COLLATE "C",
  // as the file store lists), expiry and serial with rows lacking them first.
  `
  CREATE INDEX IF NOT EXISTS certificates_name_c ON fleetca.certificates (name COLLATE "C");
  CREATE INDEX IF NOT EXISTS certificates_not_after ON fleetca.certificates (not_after NULLS FIRST, name COLLATE "C");
  CREATE INDEX IF NOT EXISTS certificates_serial_name ON fleetca.certificates (serial NULLS FIRST, name COLLATE "C");
  CREATE INDEX IF NOT EXISTS requests_name_c ON fleetca.requests (name COLLATE "C");
  `,
  // Failed console logins per user and per address (accounts.ts), shared by every server.
  `
  CREATE TABLE IF NOT EXISTS fleetca.console_login_counters (
    key          text PRIMARY KEY,
    failures     timestamptz[] NOT NULL DEFAULT '{}',
    locked_until timestamptz
  );
  `,
];

/** The schema version this build writes; a database ahead of it was migrated by a newer fleetca. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Creates or upgrades the schema. Idempotent, and safe to run from several processes at once. */
export async function migrate(pool: Pool): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${SCHEMA}.schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ v: number }>(`SELECT coalesce(max(version), 0)::int AS v FROM ${SCHEMA}.schema_migrations`);
    const current = rows[0]?.v ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `The database schema is at version ${current}, newer than this fleetca understands (${SCHEMA_VERSION}). ` +
          `Upgrade fleetca on this host to the version the other CA servers run.`,
      );
    }
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
      await client.query(MIGRATIONS[v - 1]!);
      await client.query(`INSERT INTO ${SCHEMA}.schema_migrations (version) VALUES ($1)`, [v]);
    }
  });
}
