/**
 * `fleetca server` as a process: first boot on an empty directory, restart on an existing
 * CA, SIGHUP reload without dropping connections, SIGTERM draining requests in flight.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { httpsRequest } from "./helpers/https-client.js";
import { openssl, tmpDir, verifyWithCrl, x509Text } from "./helpers/openssl.js";
import { makeCsr } from "./helpers/server-fixture.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";
import { runServer } from "../src/cli/server.js";
import { bufferIo } from "../src/cli/io.js";
import { fleetca } from "./helpers/cli.js";
import { FileStore } from "../src/store/file/index.js";

const V1 = "/puppet-ca/v1";
const dir = tmpDir("fleetca-process-");
const running: ServerProcess[] = [];
after(async () => {
  for (const s of running) await s.stop("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

async function start(...a: Parameters<typeof startServer>): Promise<ServerProcess> {
  const s = await startServer(...a);
  running.push(s);
  return s;
}

const read = (s: ServerProcess, p: string) => fs.readFileSync(path.join(s.ssldir, p), "utf8");

describe("fleetca server", () => {
  const home = path.join(dir, "first");
  let first: ServerProcess;

  test("first boot: creates the CA and its own certificate in Puppet's ssldir layout, prints how to enroll", async () => {
    first = await start({ dir: home, args: ["--dns-alt-names", "ca.example.test,localhost"] });
    const err = first.stderr();
    assert.match(err, new RegExp(`CA "Puppet CA: localhost" in ${first.cadir} \\(created now\\)`));
    const caPem = read(first, "certs/ca.pem");
    const fp = openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", path.join(first.ssldir, "certs/ca.pem")]).out.split("=")[1]!.trim();
    assert.ok(err.includes(`CA fingerprint (SHA256): ${fp}`), err);
    assert.ok(err.includes(`puppet ssl bootstrap --server localhost --serverport ${first.port}`));
    assert.ok(err.includes("fleetca agent bootstrap --server localhost"));
    assert.ok(first.logs().every((l) => typeof l.level === "number"), "stdout is JSON lines only");
    const certPem = read(first, "certs/localhost.pem");
    assert.ok(verifyWithCrl(caPem, read(first, "crl.pem"), certPem).ok);
    const text = x509Text(certPem);
    assert.match(text, /1\.3\.6\.1\.4\.1\.34380\.1\.3\.39:\s*\n\s*\.\.true/, "pp_cli_auth = true");
    assert.deepEqual(parseCertificatePem(certPem).altNames.sort(), ["DNS:ca.example.test", "DNS:localhost"]);
    assert.equal((fs.statSync(path.join(first.ssldir, "private_keys/localhost.pem")).mode & 0o777).toString(8), "600");
    assert.ok(fs.existsSync(path.join(first.cadir, "ca_crt.pem")) && fs.existsSync(path.join(first.cadir, "signed/localhost.pem")));
    assert.equal(await first.stop(), 0);
  });

  test("restart on the existing CA reuses everything: no new CA, key or certificate", async () => {
    const again = await start({ dir: home });
    assert.doesNotMatch(again.stderr(), /created now|issued now/);
    const r = await httpsRequest(`${again.url}/status/v1/simple`, { ca: read(again, "certs/ca.pem"), servername: "localhost" });
    assert.equal(r.body, "running");
    // How quick it is belongs to the benchmarks (bench/, scenario "server"), not to a timed assertion here.
    assert.equal(await again.stop(), 0);
  });

  test("default dns_alt_names: puppet, the host name, and the certname", async () => {
    const s = await start({ dir: path.join(dir, "defaults"), certname: "ca.default.test" });
    const alt = parseCertificatePem(read(s, "certs/ca.default.test.pem")).altNames.sort();
    assert.deepEqual(alt, [...new Set(["DNS:ca.default.test", "DNS:puppet", `DNS:${os.hostname().toLowerCase()}`])].sort());
    await s.stop();
  });

  test("SIGHUP reloads settings without dropping an open connection; SIGTERM lets a request in flight finish", async () => {
    const s = await start({ dir: path.join(dir, "signals") });
    const caPem = read(s, "certs/ca.pem");
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const put = async (name: string) =>
      httpsRequest(`${s.url}${V1}/certificate_request/${name}`, { method: "PUT", body: (await makeCsr(name)).csrPem, ca: caPem, servername: "localhost", agent });
    try {
      const before = await put("before.test");
      assert.equal(before.status, 200);
      assert.equal((await httpsRequest(`${s.url}${V1}/certificate/before.test`, { ca: caPem, servername: "localhost" })).status, 404, "autosign is off");

      // A policy that approves after a second, to have a request in flight at SIGTERM.
      const policy = path.join(dir, "slow-ok.sh");
      fs.writeFileSync(policy, "#!/bin/sh\ncat >/dev/null\nsleep 1\nexit 0\n", { mode: 0o755 });
      fs.writeFileSync(s.configFile, `key_type: ec\nautosign: ${policy}\n`);
      s.child.kill("SIGHUP");
      await s.waitForLog((l) => l.msg === "reloaded");
      const reloaded = s.logs().find((l) => l.msg === "audit" && l.event === "settings-reloaded");
      assert.deepEqual([reloaded?.who, reloaded?.from, reloaded?.detail], ["fleetca server", "local", "changed: autosign"], "the reload is in the audit trail");

      const afterReload = await put("after.test");
      assert.equal(afterReload.status, 200);
      assert.equal(afterReload.localPort, before.localPort, "the keep-alive connection survived the reload");
      assert.equal((await httpsRequest(`${s.url}${V1}/certificate/after.test`, { ca: caPem, servername: "localhost" })).status, 200, "autosigned by the new setting");

      const inFlight = put("inflight.test");
      await new Promise((r) => setTimeout(r, 300));
      const code = s.stop("SIGTERM");
      const r = await inFlight;
      assert.equal(r.status, 200, "the request in flight finished");
      assert.equal(await code, 0);
      assert.ok(fs.existsSync(path.join(s.cadir, "signed", "inflight.test.pem")), "and was signed before exit");
      assert.ok(s.logs().some((l) => l.msg === "stopped"));
    } finally {
      agent.destroy();
    }
  });

  test("a revoke by the CLI reaches the server's own ssldir crl.pem, as Puppet keeps it in step", async () => {
    const s = await start({ dir: path.join(dir, "crlsync") });
    const out = tmpDir();
    assert.equal((await fleetca(["ca", "generate", "gone.test", "--key-type", "ec", "--out", out, "--cadir", s.cadir])).code, 0);
    const certPem = fs.readFileSync(path.join(out, "gone.test.pem"), "utf8");
    assert.ok(verifyWithCrl(read(s, "certs/ca.pem"), read(s, "crl.pem"), certPem).ok);
    assert.equal((await fleetca(["ca", "revoke", "gone.test", "--cadir", s.cadir])).code, 0);
    let revoked = false;
    for (let i = 0; i < 40 && !revoked; i++) {
      await new Promise((r) => setTimeout(r, 100));
      revoked = verifyWithCrl(read(s, "certs/ca.pem"), read(s, "crl.pem"), certPem).out.includes("certificate revoked");
    }
    assert.ok(revoked, "the server's crl.pem lists the revoked certificate within 4 s");
    assert.equal(await s.stop(), 0);
  });

  test("at start, a revocation recorded but missing from the CRL (a crash between the two) is published", async () => {
    const s = await start({ dir: path.join(dir, "repair") });
    const out = tmpDir();
    assert.equal((await fleetca(["ca", "generate", "ghost.test", "--key-type", "ec", "--out", out, "--cadir", s.cadir])).code, 0);
    assert.equal(await s.stop(), 0);
    const certPem = fs.readFileSync(path.join(out, "ghost.test.pem"), "utf8");
    const store = new FileStore(s.cadir);
    await store.putRevocations([{ serial: parseCertificatePem(certPem).serial, name: "ghost.test", revokedAt: new Date(), reason: "keyCompromise", by: "test" }], []);
    await store.close();
    const again = await start({ dir: path.join(dir, "repair") });
    const line = again.logs().find((l) => String(l.msg).startsWith("crl repaired"));
    assert.equal(line?.added, 1, JSON.stringify(again.logs()));
    assert.match(verifyWithCrl(read(again, "certs/ca.pem"), read(again, "crl.pem"), certPem).out, /certificate revoked/);
    assert.equal(await again.stop(), 0);
  });

  test("a port in use is reported plainly, exit 1", async () => {
    const busy = await start({ dir: path.join(dir, "busy") });
    const io = bufferIo({}, dir);
    const flags = { cadir: path.join(dir, "other", "ca"), bind: "127.0.0.1", port: String(busy.port), certname: "localhost", keyType: "ec" };
    const code = await runServer(flags, io, { logTo: { write: () => undefined } });
    assert.equal(code, 1);
    assert.match(io.stderr.join("\n"), new RegExp(`Error: cannot listen on 127.0.0.1:${busy.port}: the port is in use`));
    await busy.stop();
  });
});
