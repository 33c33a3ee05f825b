/** Runs fn in a transaction on one pooled connection: COMMIT if it resolves, ROLLBACK if it throws. */
import type pg from "pg";

export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (e) {
    // A connection whose ROLLBACK failed may still be inside the transaction: drop it rather than reuse it.
    if (!(await client.query("ROLLBACK").then(() => true, () => false))) broken = e as Error;
    throw e;
  } finally {
    client.release(broken);
  }
}
