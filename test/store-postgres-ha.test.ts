/**
 * Several CA servers on one PostgreSQL database, for real: `fleetca server` processes on
 * throwaway clusters (scripts/pg-test-server.sh). The key encrypted at rest and refused
 * without its passphrase; servers started together on an empty database; a revoke seen by
 * every server; `sign --all` twice at once. Database failures and a standby promoted under
 * enrollment load are in store-postgres-failover.test.ts.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { CertificateAuthority } from "../src/ca/authority.js";
import { localPrincipal } from "../src/ca/principal.js";
import { PostgresStore } from "../src/store/postgres/index.js";
import { fleetcaProcess, opensslCsr } from "./helpers/cli.js";
import { anyName, enrollAll, makeCsrs } from "./helpers/enroll-load.js";
import { openssl, tmpDir, withFile } from "./helpers/openssl.js";
import { pgUnavailable, startPg, TEST_PASSPHRASE, type PgServer } from "./helpers/pg-server.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

const skip = pgUnavailable();

function get(url: string, caPem: string, cert?: { certPem: string; keyPem: string }): Promise<{ status: number; body: string; der: Buffer }> {
  return post(url, caPem, undefined, cert);
}

function post(url: string, caPem: string, body?: Buffer, cert?: { certPem: string; keyPem: string }): Promise<{ status: number; body: string; der: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method: body ? "POST" : "GET", ca: caPem, agent: false, checkServerIdentity: anyName, cert: cert?.certPem, key: cert?.keyPem, headers: body ? { "content-type": "application/ocsp-request" } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => {
          const der = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, body: der.toString("utf8"), der });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** What the server's OCSP responder says of the certificate, as openssl reads the answer ("good", "revoked"). */
async function ocspStatus(base: string, caPem: string, certPem: string): Promise<string> {
  const dir = tmpDir();
  const ca = path.join(dir, "ca.pem");
  const cert = path.join(dir, "cert.pem");
  fs.writeFileSync(ca, caPem);
  fs.writeFileSync(cert, certPem);
  const made = openssl(["ocsp", "-issuer", ca, "-cert", cert, "-no_nonce", "-reqout", path.join(dir, "req.der")]);
  assert.ok(made.ok, made.out);
  const answer = await post(`${base}/ocsp`, caPem, fs.readFileSync(path.join(dir, "req.der")));
  fs.writeFileSync(path.join(dir, "resp.der"), answer.der);
  const read = openssl(["ocsp", "-respin", path.join(dir, "resp.der"), "-issuer", ca, "-cert", cert, "-CAfile", ca, "-no_nonce"]);
  fs.rmSync(dir, { recursive: true, force: true });
  const m = new RegExp(`${cert.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: (\\w+)`).exec(read.out);
  return m?.[1] ?? `unreadable: ${read.out}`;
}

/** A JSON API call over HTTPS, with a session cookie (and its CSRF token) or a client certificate. */
function api(
  base: string, caPem: string, method: string, url: string,
  opts: { body?: unknown; cookie?: string; csrf?: string; cert?: { certPem: string; keyPem: string } } = {},
): Promise<{ status: number; body: Record<string, unknown>; cookie?: string }> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers["x-csrf-token"] = opts.csrf;
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}/api/v1${url}`, { method, ca: caPem, agent: false, checkServerIdentity: anyName, cert: opts.cert?.certPem, key: opts.cert?.keyPem, headers }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        const set = res.headers["set-cookie"]?.[0];
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown>, cookie: set?.split(";")[0] });
      });
    });
    req.on("error", reject);
    req.end(opts.body === undefined ? undefined : JSON.stringify(opts.body));
  });
}

describe("PostgreSQL store: many servers, one CA", { skip }, () => {
  let db: PgServer;
  let sql: pg.Client;
  const servers: ServerProcess[] = [];
  const root = tmpDir();
  let caPem = "";

  const start = (n: number, env: Record<string, string | undefined> = {}) =>
    startServer({ dir: path.join(root, `s${n}`), certname: `ca${n}.example.com`, config: "key_type: ec\nautosign: true\n", args: ["--store", db.url], env });

  before(async () => {
    db = await startPg();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await sql?.end();
    await db?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test("three servers started at once on an empty database: one creates the CA, all serve it, and the key is stored only encrypted", async () => {
    servers.push(...(await Promise.all([start(1), start(2), start(3)])));
    const created = servers.filter((s) => /\(created now\)/.test(s.stderr()));
    assert.equal(created.length, 1, servers.map((s) => s.stderr()).join("\n---\n"));
    caPem = fs.readFileSync(path.join(servers[0]!.ssldir, "certs", "ca.pem"), "utf8");
    for (const s of servers) {
      const r = await get(`${s.url}/puppet-ca/v1/certificate/ca`, caPem);
      assert.equal(r.status, 200);
      assert.equal(r.body.trim(), caPem.trim());
    }
    const { rows } = await sql.query("SELECT key_pem, key_sealed FROM fleetca.ca");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].key_pem, null);
    assert.deepEqual([rows[0].key_sealed.kdf, rows[0].key_sealed.cipher], ["scrypt", "aes-256-gcm"]);
    assert.ok(rows[0].key_sealed.N >= 16384 && rows[0].key_sealed.salt && rows[0].key_sealed.iv);
    // Nowhere in the database's tables is a private key in clear.
    const dump = (await sql.query("SELECT string_agg(t::text, '') AS all FROM fleetca.ca t")).rows[0].all as string;
    assert.doesNotMatch(dump, /PRIVATE KEY/);
    const setups = (await sql.query("SELECT count(*)::int AS n FROM fleetca.audit WHERE action = 'setup'")).rows[0].n;
    assert.equal(setups, 1);
  });

  test("a revoke through one server, or the CLI, is enforced by every server, in its CRL and OCSP answers, within two seconds", async () => {
    const csrs = makeCsrs(["rev1.example.com", "rev2.example.com"]);
    const { enrolled } = await enrollAll(() => servers[0]!.url, caPem, csrs, 2);
    const certOf = (n: string) => enrolled.find((e) => e.name === n)!.certPem;
    for (const s of servers) assert.equal(await ocspStatus(s.url, caPem, certOf("rev1.example.com")), "good");

    const serialOf = (pem: string) => withFile(pem, (f) => openssl(["x509", "-in", f, "-noout", "-serial"]).out.trim().split("=")[1]!);
    const seenEverywhere = async (name: string) => {
      const serial = serialOf(certOf(name));
      const deadline = Date.now() + 2000;
      const pending = new Set(servers);
      while (pending.size > 0 && Date.now() < deadline) {
        for (const s of [...pending]) {
          const crl = await get(`${s.url}/puppet-ca/v1/certificate_revocation_list/ca`, caPem);
          const listed = withFile(crl.body, (f) => openssl(["crl", "-in", f, "-noout", "-text"]).out).includes(`Serial Number: ${serial}`);
          if (listed && (await ocspStatus(s.url, caPem, certOf(name))) === "revoked") pending.delete(s);
        }
        if (pending.size > 0) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(pending.size, 0, `${name} not yet revoked on ${[...pending].map((s) => s.url).join(", ")} two seconds after the revoke`);
    };

    // Through the second server's admin API (its own certificate has pp_cli_auth).
    const s2 = servers[1]!;
    const admin = { certPem: fs.readFileSync(path.join(s2.ssldir, "certs", "ca2.example.com.pem"), "utf8"), keyPem: fs.readFileSync(path.join(s2.ssldir, "private_keys", "ca2.example.com.pem"), "utf8") };
    const revoked = await new Promise<number>((resolve, reject) => {
      const req = https.request(`${s2.url}/puppet-ca/v1/certificate_status/rev1.example.com`, { method: "PUT", ca: caPem, cert: admin.certPem, key: admin.keyPem, agent: false, checkServerIdentity: anyName, headers: { "content-type": "application/json" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end(JSON.stringify({ desired_state: "revoked" }));
    });
    assert.equal(revoked, 204);
    await seenEverywhere("rev1.example.com");

    // Through the CLI, another process on the same database.
    const cli = await fleetcaProcess(["ca", "revoke", "rev2.example.com", "--store", db.url]);
    assert.equal(cli.code, 0, cli.stderr);
    await seenEverywhere("rev2.example.com");
  });

  test("`fleetca ca sign --all` run twice at the same moment signs each request exactly once", async () => {
    const store = await PostgresStore.open(db.url);
    const names = Array.from({ length: 16 }, (_, i) => `batch${i}.example.com`);
    try {
      const ca = new CertificateAuthority({ store, settings: { caTtl: 365 * 86_400, allowSubjectAltNames: true, allowAuthorizationExtensions: true, allowDuplicateCerts: false } });
      for (const n of names) await ca.submitRequest(n, opensslCsr(n).csrPem, localPrincipal("test", "pg-test"));
    } finally {
      await store.close();
    }
    const [a, b] = await Promise.all([fleetcaProcess(["ca", "sign", "--all", "--store", db.url]), fleetcaProcess(["ca", "sign", "--all", "--store", db.url])]);
    // A request the other command signed first is reported, not signed again: the only errors
    // allowed. Which words depend on when it lost the race: under the lock ("someone else
    // meanwhile"), or before, when the request was already gone (Puppet's "without a request").
    for (const r of [a, b]) {
      const errors = r.stderr.split("\n").filter((l) => /error/i.test(l));
      assert.ok(errors.every((l) => /was signed or removed by someone else meanwhile|Cannot sign certificate for host \S+ without a certificate request/.test(l)), r.stderr);
    }
    const { rows } = await sql.query<{ subject: string; n: number }>(
      "SELECT subject, count(*)::int AS n FROM fleetca.inventory WHERE subject LIKE '/CN=batch%' GROUP BY subject",
    );
    assert.equal(rows.length, names.length);
    assert.ok(rows.every((r) => r.n === 1), JSON.stringify(rows.filter((r) => r.n !== 1)));
    const signed = (await sql.query("SELECT count(*)::int AS n FROM fleetca.audit WHERE action = 'signed' AND outcome = 'ok' AND names[1] LIKE 'batch%'")).rows[0].n;
    assert.equal(signed, names.length);
    assert.equal((await sql.query("SELECT count(*)::int AS n FROM fleetca.requests WHERE name LIKE 'batch%'")).rows[0].n, 0);
  });

  test("without the passphrase, or with a wrong one, a server serves the CA certificate, CRL and certificates but refuses to sign, saying why", async () => {
    const s3 = servers.pop()!;
    await s3.stop();
    // A second copy of its directory (its TLS identity): both cases run side by side.
    fs.cpSync(path.join(root, "s3"), path.join(root, "s4"), { recursive: true });
    const csrs = makeCsrs(["nokey.example.com"]);
    const cases = [
      [3, { FLEETCA_CA_PASSPHRASE: undefined }, /encrypted and no passphrase was given: set FLEETCA_CA_PASSPHRASE/],
      [4, { FLEETCA_CA_PASSPHRASE: "not the passphrase" }, /passphrase given does not open the CA key/],
    ] as const;
    await Promise.all(cases.map(async ([n, env, why]) => {
      const s = await startServer({ dir: path.join(root, `s${n}`), certname: "ca3.example.com", config: "key_type: ec\nautosign: true\n", args: ["--store", db.url], env });
      try {
        assert.match(s.stderr(), why);
        assert.equal((await get(`${s.url}/puppet-ca/v1/certificate/ca`, caPem)).status, 200);
        assert.equal((await get(`${s.url}/puppet-ca/v1/certificate_revocation_list/ca`, caPem)).status, 200);
        assert.equal((await get(`${s.url}/puppet-ca/v1/certificate/rev1.example.com`, caPem)).status, 200);
        const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = https.request(`${s.url}/puppet-ca/v1/certificate_request/nokey.example.com`, { method: "PUT", ca: caPem, agent: false, checkServerIdentity: anyName, headers: { "content-type": "text/plain" } }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on("error", reject);
          req.end(csrs.get("nokey.example.com"));
        });
        // 503, not Puppet's 400 for a refused CSR: nothing is wrong with the request, and another server may sign it.
        assert.equal(refused.status, 503);
        assert.match(refused.body, why);
      } finally {
        await s.stop();
      }
    }));
  });

  test("`fleetca ca passphrase --rotate` re-encrypts the key: the old passphrase no longer opens it, the new one does", async () => {
    const dir = tmpDir();
    const file = path.join(dir, "new");
    fs.writeFileSync(file, "a new passphrase\n", { mode: 0o600 });
    const before = (await sql.query("SELECT key_sealed::text AS k FROM fleetca.ca")).rows[0].k as string;
    // The wrong current passphrase changes nothing, whenever it runs beside the right one.
    const [wrong, r] = await Promise.all([
      fleetcaProcess(["ca", "passphrase", "--rotate", "--new-passphrase-file", file, "--store", db.url], { FLEETCA_CA_PASSPHRASE: "not the passphrase" }),
      fleetcaProcess(["ca", "passphrase", "--rotate", "--new-passphrase-file", file, "--store", db.url]),
    ]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /current passphrase does not open the CA key.*nothing was changed/);
    assert.equal(r.code, 0, r.stderr);
    assert.notEqual((await sql.query("SELECT key_sealed::text AS k FROM fleetca.ca")).rows[0].k, before);
    const old = await PostgresStore.open(db.url, { passphrase: TEST_PASSPHRASE });
    const fresh = await PostgresStore.open(db.url, { passphrase: "a new passphrase" });
    try {
      assert.match((await old.loadCaMaterial()).keyProblem ?? "", /does not open the CA key/);
      assert.match((await fresh.loadCaMaterial()).keyPem, /BEGIN (EC )?PRIVATE KEY/);
    } finally {
      await old.close();
      await fresh.close();
    }
    // The servers still running opened the key before: they keep signing until restarted.
    const { enrolled } = await enrollAll(() => servers[0]!.url, caPem, makeCsrs(["after-rotate.example.com"]), 1);
    assert.equal(enrolled.length, 1);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("console users and sessions, the audit trail and the re-enrollment tracking are the same on every server", async () => {
    const [s1, s2] = servers as [ServerProcess, ServerProcess];
    const adminOf1 = {
      certPem: fs.readFileSync(path.join(s1.ssldir, "certs", "ca1.example.com.pem"), "utf8"),
      keyPem: fs.readFileSync(path.join(s1.ssldir, "private_keys", "ca1.example.com.pem"), "utf8"),
    };
    // A user added through server 1 (its admin certificate) logs in on server 2.
    const added = await api(s1.url, caPem, "POST", "/users", { cert: adminOf1, body: { name: "olga", role: "operator", password: "a long enough password" } });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const login = await api(s2.url, caPem, "POST", "/session", { body: { user: "olga", password: "a long enough password" } });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const session = { cookie: login.cookie!, csrf: String(login.body.csrf) };
    // The session made on server 2 is good on server 1 too.
    const who = await api(s1.url, caPem, "GET", "/session", { cookie: session.cookie });
    assert.equal(who.status, 200, JSON.stringify(who.body));
    assert.equal(who.body.name, "olga");

    // The user's addition, audited through server 1, is in server 2's audit trail, and the login made on server 2 in server 1's.
    const audit = async (base: string, action: string) =>
      ((await api(base, caPem, "GET", `/audit?action=${action}`, { cookie: session.cookie })).body.items as { by?: string; detail?: string; outcome: string }[]) ?? [];
    assert.ok((await audit(s2.url, "user-added")).some((r) => /user olga, role operator/.test(r.detail ?? "")), "server 2 shows the user added through server 1");
    assert.ok((await audit(s1.url, "login")).some((r) => r.outcome === "ok" && /olga/.test(JSON.stringify(r))), "server 1 shows the login made on server 2");

    // Re-enrollment tracking, as \`fleetca ca regenerate\` starts it (the CLI writes it to the database):
    // both servers report the same list; a node enrolling through server 2 and one dismissed
    // through server 1 leave it on both.
    const cli = await PostgresStore.open(db.url, { passphrase: null });
    try {
      await cli.startTracking(
        { mode: "compromise", startedAt: new Date(), oldCaFingerprint: "AA:BB", newCaFingerprint: "CC:DD", firstNewSerial: await cli.peekSerial() },
        ["back.example.com", "gone.example.com", "late.example.com"],
      );
    } finally {
      await cli.close();
    }
    const status = async (base: string) => {
      const r = await api(base, caPem, "GET", "/regeneration", { cookie: session.cookie });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body as { active: boolean; total: number; reenrolled: number; dismissed: number; nodes: { name: string }[] };
    };
    const first = await status(s1.url);
    assert.deepEqual([first.active, first.total, first.nodes.map((n) => n.name)], [true, 3, ["back.example.com", "gone.example.com", "late.example.com"]]);
    assert.deepEqual(await status(s2.url), first);

    await enrollAll(() => s2.url, caPem, makeCsrs(["back.example.com"]), 1);
    const dismissed = await api(s1.url, caPem, "POST", "/regeneration/dismiss", { ...session, body: { name: "gone.example.com" } });
    assert.equal(dismissed.status, 200, JSON.stringify(dismissed.body));
    const [after1, after2] = [await status(s1.url), await status(s2.url)];
    assert.deepEqual([after1.reenrolled, after1.dismissed, after1.nodes.map((n) => n.name)], [1, 1, ["late.example.com"]]);
    assert.deepEqual(after2, after1);
    assert.ok((await audit(s2.url, "reenroll-dismissed")).some((r) => /olga/.test(JSON.stringify(r))), "server 2 shows the dismissal made through server 1, by its user");

    // Logging out through server 1 ends the session on server 2.
    assert.equal((await api(s1.url, caPem, "DELETE", "/session", session)).status, 200);
    assert.equal((await api(s2.url, caPem, "GET", "/session", { cookie: session.cookie })).status, 401);
  });
});
