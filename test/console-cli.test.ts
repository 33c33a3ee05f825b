/**
 * `fleetca console adduser|passwd|deluser|users` on a file store: users land in the store
 * with per-user salted scrypt hashes (never the password), changes are audited, and the
 * mistakes a user makes get a message that says what to do.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { run } from "../src/cli/main.js";
import { bufferIo } from "../src/cli/io.js";
import { ConsoleAccess } from "../src/ca/console/access.js";
import { FileStore } from "../src/store/file/index.js";
import { tmpDir } from "./helpers/openssl.js";

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = bufferIo(env);
  const code = await run(args, io);
  return { code, stdout: io.stdout.join("\n"), stderr: io.stderr.join("\n") };
}

test("console users: add, list, change the password, delete; hashes salted per user; every change audited", async () => {
  const dir = tmpDir("fleetca-console-cli-");
  const cadir = path.join(dir, "ca");
  const pw = { FLEETCA_CONSOLE_PASSWORD: "correct horse battery" };
  assert.equal((await cli(["console", "adduser", "alice", "--role", "admin", "--cadir", cadir], pw)).code, 0);
  const file = path.join(dir, "pw");
  fs.writeFileSync(file, "correct horse battery\n");
  const bob = await cli(["console", "adduser", "bob", "--role", "viewer", "--cadir", cadir, "--password-file", file]);
  assert.equal(bob.code, 0, bob.stderr);

  const raw = fs.readFileSync(path.join(cadir, "fleetca_console_users.json"), "utf8");
  assert.ok(!raw.includes("correct horse"), "the password itself is never stored");
  assert.equal(fs.statSync(path.join(cadir, "fleetca_console_users.json")).mode & 0o777, 0o600);
  const hashes = (JSON.parse(raw) as { rows: { passwordHash: string }[] }).rows.map((r) => r.passwordHash);
  assert.equal(hashes.length, 2);
  assert.match(hashes[0]!, /^scrypt\$/);
  assert.notEqual(hashes[0], hashes[1], "the same password hashes differently for each user (own salt)");

  const users = await cli(["console", "users", "--cadir", cadir, "--format", "json"]);
  assert.deepEqual((JSON.parse(users.stdout) as { name: string; role: string }[]).map((u) => [u.name, u.role]), [["alice", "admin"], ["bob", "viewer"]]);
  assert.match((await cli(["console", "users", "--cadir", cadir])).stdout, /^alice\s+admin/m);

  const dup = await cli(["console", "adduser", "bob", "--role", "admin", "--cadir", cadir], pw);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /exists already; use `fleetca console passwd --cadir \S+ bob`/);
  const short = await cli(["console", "adduser", "carol", "--role", "admin", "--cadir", cadir], { FLEETCA_CONSOLE_PASSWORD: "short" });
  assert.equal(short.code, 1);
  assert.match(short.stderr, /at least 10 characters/);
  const badRole = await cli(["console", "adduser", "carol", "--role", "root", "--cadir", cadir], pw);
  assert.notEqual(badRole.code, 0);
  assert.match(badRole.stderr, /viewer, operator, admin/);
  const badName = await cli(["console", "adduser", "../etc", "--role", "admin", "--cadir", cadir], pw);
  assert.equal(badName.code, 2);

  const store = await FileStore.open(cadir);
  const access = new ConsoleAccess(store);
  const before = await access.login("bob", "correct horse battery", "127.0.0.1");
  assert.equal((await cli(["console", "passwd", "bob", "--role", "operator", "--cadir", cadir], { FLEETCA_CONSOLE_PASSWORD: "a new long password" })).code, 0);
  assert.equal(await access.resolve(before.token, "127.0.0.1"), undefined, "a password change ends the user's sessions");
  await assert.rejects(access.login("bob", "correct horse battery", "127.0.0.1"), /Wrong user name or password/);
  const after = await access.login("bob", "a new long password", "127.0.0.1");
  assert.deepEqual(after.live.principal.roles, ["viewer", "operator"]);

  assert.equal((await cli(["console", "deluser", "bob", "--cadir", cadir])).code, 0);
  assert.equal(await access.resolve(after.token, "127.0.0.1"), undefined, "a deleted user's session ends");
  const gone = await cli(["console", "deluser", "bob", "--cadir", cadir]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no console user bob/);

  const audit = await store.readAudit({});
  const lines = audit.map((r) => `${r.action} ${r.outcome} ${r.who} ${r.detail ?? ""}`);
  assert.ok(lines.some((l) => /^user-added ok cli:\S+ user alice, role admin$/.test(l)), lines.join("\n"));
  assert.ok(lines.some((l) => /^user-changed ok cli:\S+ user bob: new password, role operator$/.test(l)));
  assert.ok(lines.some((l) => /^user-deleted ok cli:\S+ user bob$/.test(l)));
  assert.ok(lines.some((l) => /^login refused anonymous user bob$/.test(l)));
  assert.ok(lines.some((l) => /^login ok console:bob/.test(l)));
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("sessions end after 30 minutes idle, and 12 hours after login however busy", async () => {
  const { MemoryStore } = await import("./helpers/memory-store.js");
  const { localPrincipal } = await import("../src/ca/principal.js");
  let now = Date.parse("2026-12-01T08:00:00Z");
  const access = new ConsoleAccess(new MemoryStore(), () => new Date(now));
  await access.addUser("ida", "viewer", "a long enough password", localPrincipal("root", "ca"));
  const idle = await access.login("ida", "a long enough password", "10.0.0.1");
  now += 29 * 60_000;
  assert.ok(await access.resolve(idle.token, "10.0.0.1"), "used within 30 minutes: alive, and the use counts");
  now += 29 * 60_000;
  assert.ok(await access.resolve(idle.token, "10.0.0.1"));
  now += 31 * 60_000;
  assert.equal(await access.resolve(idle.token, "10.0.0.1"), undefined, "31 minutes unused: ended");

  const busy = await access.login("ida", "a long enough password", "10.0.0.1");
  const end = now + 12 * 3600_000;
  while (now + 10 * 60_000 < end) {
    now += 10 * 60_000;
    assert.ok(await access.resolve(busy.token, "10.0.0.1"));
  }
  now = end + 60_000;
  assert.equal(await access.resolve(busy.token, "10.0.0.1"), undefined, "12 hours after login: ended, used or not");
});
