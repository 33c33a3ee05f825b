/**
 * Issue 16, the file store: with FLEETCA_CA_PASSPHRASE(_FILE) set, ca_key.pem is a standard
 * PKCS#8 encrypted key (PBES2, scrypt, AES-256-CBC) that openssl reads; without the
 * passphrase, or with a wrong one, commands and the server refuse to sign, saying why, and
 * still serve the CA certificate, CRL and certificates; `ca passphrase --rotate` encrypts a
 * clear key and re-encrypts an encrypted one; a backup carries the encrypted file as it is.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { openArchive } from "../src/ca/lifecycle/archive.js";
import { buildCsr, csrToPem } from "../src/pki/csr.js";
import { generateKeyPair } from "../src/pki/keys.js";
import { bufferIo } from "../src/cli/io.js";
import { run } from "../src/cli/main.js";
import { ENCRYPTED_KEY_LABEL } from "../src/pki/encrypted-key.js";
import { httpsRequest } from "./helpers/https-client.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

const ENC = `-----BEGIN ${ENCRYPTED_KEY_LABEL}-----`;
const VARS = ["FLEETCA_CA_PASSPHRASE", "FLEETCA_CA_PASSPHRASE_FILE"] as const;
let server: ServerProcess | undefined;
after(async () => void (await server?.stop()));

/** Runs the CLI in this process with exactly these passphrase variables, in the process's environment and the command's. */
async function cli(args: string[], env: Partial<Record<(typeof VARS)[number], string>> = {}) {
  const saved = VARS.map((k) => [k, process.env[k]] as const);
  for (const k of VARS) delete process.env[k];
  Object.assign(process.env, env);
  // Store notices go to the process's stderr (cli/context.ts): collect them with the command's.
  const write = process.stderr.write.bind(process.stderr);
  let notices = "";
  process.stderr.write = ((chunk: string | Uint8Array) => ((notices += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const io = bufferIo({ ...env }, tmpDir());
    const code = await run(args, io);
    return { code, stdout: io.stdout.join("\n"), stderr: `${notices}${io.stderr.join("\n")}` };
  } finally {
    process.stderr.write = write;
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function ok(args: string[], env: Partial<Record<(typeof VARS)[number], string>> = {}) {
  const r = await cli(args, env);
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r;
}

const secretFile = (dir: string, name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, `${text}\n`, { mode: 0o600 });
  return f;
};

/** openssl's reading of the key with the passphrase in `file`: its public half, or the error. */
const opensslPub = (key: string, file: string) => openssl(["pkey", "-in", key, "-passin", `file:${file}`, "-pubout"]);

test("setup with a passphrase file writes ca_key.pem as PKCS#8 PBES2/scrypt that openssl reads; commands without it, or with a wrong one, refuse to sign and say why", async () => {
  const root = tmpDir();
  const cadir = path.join(root, "ca");
  const pass = secretFile(root, "pass", "correct horse battery staple");
  const env = { FLEETCA_CA_PASSPHRASE_FILE: pass };
  await ok(["ca", "setup", "--cadir", cadir, "--key-type", "ec", "--certname", "ca.example.com"], env);
  const key = path.join(cadir, "ca_key.pem");
  const text = fs.readFileSync(key, "utf8");
  assert.ok(text.startsWith(ENC), text.slice(0, 60));
  assert.ok(!text.includes("BEGIN EC PRIVATE KEY") && !text.includes("BEGIN PRIVATE KEY"));
  assert.equal(fs.statSync(key).mode & 0o777, 0o600);
  const parsed = openssl(["asn1parse", "-in", key]);
  assert.match(parsed.out, /:PBES2/);
  assert.match(parsed.out, /:scrypt/);
  assert.match(parsed.out, /:aes-256-cbc/);
  const pub = opensslPub(key, pass);
  assert.ok(pub.ok, pub.out);
  assert.equal(pub.out.trim(), fs.readFileSync(path.join(cadir, "ca_pub.pem"), "utf8").trim(), "the key openssl opens is the CA's");
  assert.ok(!opensslPub(key, secretFile(root, "wrong", "tr0ub4dor&3")).ok, "and a wrong passphrase does not open it");

  // With the passphrase, the CA signs; openssl verifies what it signed.
  await ok(["ca", "generate", "one.example.com", "--cadir", cadir, "--key-type", "ec"], env);
  const cert = path.join(cadir, "signed", "one.example.com.pem");
  assert.ok(openssl(["verify", "-CAfile", path.join(cadir, "ca_crt.pem"), cert]).ok);

  // Without it, or with a wrong one: refused, saying why and what to do; reading still works.
  const none = await cli(["ca", "generate", "two.example.com", "--cadir", cadir, "--key-type", "ec"]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /ca_key\.pem is encrypted and no passphrase was given: set FLEETCA_CA_PASSPHRASE, or FLEETCA_CA_PASSPHRASE_FILE/);
  const wrong = await cli(["ca", "revoke", "one.example.com", "--cadir", cadir], { FLEETCA_CA_PASSPHRASE: "tr0ub4dor&3" });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /the passphrase given does not open .*ca_key\.pem/);
  assert.ok(!fs.existsSync(path.join(cadir, "signed", "two.example.com.pem")));
  const list = await ok(["ca", "list", "--all", "--cadir", cadir]);
  assert.match(list.stdout, /one\.example\.com/);
  assert.doesNotMatch(list.stdout, /^- /m, "the refused revoke changed nothing");
  assert.ok(fs.readFileSync(key, "utf8") === text, "and the key file is as it was");
});

test("a server without the passphrase serves the CA certificate, CRL and certificates and refuses to sign with the reason; with it, it signs", async () => {
  const root = tmpDir();
  const pass = secretFile(root, "pass", "server passphrase");
  server = await startServer({ dir: root, config: "key_type: ec\nautosign: true\n", env: { FLEETCA_CA_PASSPHRASE: undefined, FLEETCA_CA_PASSPHRASE_FILE: pass } });
  const caPem = fs.readFileSync(path.join(server.cadir, "ca_crt.pem"), "utf8");
  assert.ok(fs.readFileSync(path.join(server.cadir, "ca_key.pem"), "utf8").startsWith(ENC), "a server creating its CA with the passphrase encrypts it");
  const csr = async (name: string) => {
    const k = await generateKeyPair({ type: "ec", curve: "P-256" });
    return csrToPem(await buildCsr({ commonName: name, altNames: [] }, k.privateKey, k.publicKey));
  };
  const put = (url: string, name: string, body: string) =>
    httpsRequest(`${url}/puppet-ca/v1/certificate_request/${name}`, { method: "PUT", body, headers: { "content-type": "text/plain" }, ca: caPem, servername: "localhost" });
  assert.equal((await put(server.url, "signed.example.com", await csr("signed.example.com"))).status, 200);
  assert.equal(await server.stop(), 0);
  server = undefined;

  for (const env of [{}, { FLEETCA_CA_PASSPHRASE: "not it" }]) {
    server = await startServer({ dir: root, config: "key_type: ec\nautosign: true\n", env: { FLEETCA_CA_PASSPHRASE: undefined, ...env } });
    const why = "FLEETCA_CA_PASSPHRASE" in env ? /the passphrase given does not open .*ca_key\.pem/ : /ca_key\.pem is encrypted and no passphrase was given/;
    assert.match(server.stderr(), why);
    const get = (p: string) => httpsRequest(`${server!.url}/puppet-ca/v1/${p}`, { ca: caPem, servername: "localhost" });
    assert.equal((await get("certificate/ca")).status, 200);
    assert.equal((await get("certificate_revocation_list/ca")).status, 200);
    assert.equal((await get("certificate/signed.example.com")).status, 200);
    const refused = await put(server.url, "refused.example.com", await csr("refused.example.com"));
    assert.equal(refused.status, 503, refused.body);
    assert.match(refused.body, why);
    assert.equal(await server.stop(), 0);
    server = undefined;
  }
});

test("ca passphrase --rotate encrypts a clear key, then re-encrypts it; a wrong current passphrase changes nothing; a backup carries the encrypted key as it is", async () => {
  const root = tmpDir();
  const cadir = path.join(root, "ca");
  await ok(["ca", "setup", "--cadir", cadir, "--key-type", "ec", "--certname", "ca.example.com"]);
  const key = path.join(cadir, "ca_key.pem");
  const clear = fs.readFileSync(key, "utf8");
  assert.match(clear, /BEGIN EC PRIVATE KEY/, "without a passphrase the key stays in clear, as Puppet writes it");
  const first = secretFile(root, "first", "first passphrase");
  const second = secretFile(root, "second", "second passphrase");

  // A clear key with a passphrase set: used as it is, and the operator is told how to encrypt it.
  const told = await ok(["ca", "generate", "a.example.com", "--cadir", cadir, "--key-type", "ec"], { FLEETCA_CA_PASSPHRASE_FILE: first });
  assert.match(told.stderr, /ca_key\.pem is in clear although a CA passphrase is set.*fleetca ca passphrase --rotate/);
  assert.equal(fs.readFileSync(key, "utf8"), clear);

  const r1 = await ok(["ca", "passphrase", "--rotate", "--new-passphrase-file", first, "--cadir", cadir]);
  assert.match(r1.stdout, /now encrypted with the new passphrase/);
  const enc1 = fs.readFileSync(key, "utf8");
  assert.ok(enc1.startsWith(ENC));
  assert.equal(fs.statSync(key).mode & 0o777, 0o600);
  assert.ok(opensslPub(key, first).ok);

  const wrong = await cli(["ca", "passphrase", "--rotate", "--new-passphrase-file", second, "--cadir", cadir], { FLEETCA_CA_PASSPHRASE_FILE: second });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /current passphrase does not open .*nothing was changed/);
  assert.equal(fs.readFileSync(key, "utf8"), enc1);

  await ok(["ca", "passphrase", "--rotate", "--new-passphrase-file", second, "--cadir", cadir], { FLEETCA_CA_PASSPHRASE_FILE: first });
  assert.ok(!opensslPub(key, first).ok, "the old passphrase no longer opens it");
  const pub = opensslPub(key, second);
  assert.ok(pub.ok, pub.out);
  assert.equal(pub.out.trim(), fs.readFileSync(path.join(cadir, "ca_pub.pem"), "utf8").trim(), "the same key");
  await ok(["ca", "generate", "b.example.com", "--cadir", cadir, "--key-type", "ec"], { FLEETCA_CA_PASSPHRASE_FILE: second });

  // The backup holds ca_key.pem byte for byte, still encrypted; restore puts it back so.
  const enc2 = fs.readFileSync(key);
  const archive = path.join(root, "b.fleetca");
  await ok(["ca", "backup", "--cadir", cadir, "--out", archive]);
  const a = await openArchive(fs.createReadStream(archive), undefined);
  let inArchive: Uint8Array | undefined;
  for await (const it of a.items) if (it.section === "store" && it.path === "ca_key.pem") inArchive = it.data;
  assert.ok(inArchive && Buffer.from(inArchive).equals(enc2));
  await ok(["ca", "generate", "c.example.com", "--cadir", cadir, "--key-type", "ec"], { FLEETCA_CA_PASSPHRASE_FILE: second });
  await ok(["ca", "restore", archive, "--cadir", cadir]);
  assert.ok(fs.readFileSync(key).equals(enc2));
  assert.ok(!fs.existsSync(path.join(cadir, "signed", "c.example.com.pem")));
});

test("ca import with the passphrase set keeps the imported key encrypted", async () => {
  const root = tmpDir();
  const src = path.join(root, "src");
  await ok(["ca", "setup", "--cadir", src, "--key-type", "ec", "--certname", "old.example.com"]);
  const pass = secretFile(root, "pass", "import passphrase");
  const cadir = path.join(root, "ca");
  await ok(
    ["ca", "import", "--cadir", cadir, "--cert-bundle", path.join(src, "ca_crt.pem"), "--private-key", path.join(src, "ca_key.pem"), "--crl-chain", path.join(src, "ca_crl.pem")],
    { FLEETCA_CA_PASSPHRASE_FILE: pass },
  );
  const key = path.join(cadir, "ca_key.pem");
  assert.ok(fs.readFileSync(key, "utf8").startsWith(ENC));
  assert.equal(opensslPub(key, pass).out.trim(), fs.readFileSync(path.join(src, "ca_pub.pem"), "utf8").trim());
  await ok(["ca", "generate", "n.example.com", "--cadir", cadir, "--key-type", "ec"], { FLEETCA_CA_PASSPHRASE_FILE: pass });
  assert.ok(openssl(["verify", "-CAfile", path.join(cadir, "ca_crt.pem"), path.join(cadir, "signed", "n.example.com.pem")]).ok);
});
