/**
 * Issue 11, "the server re-signs its CRL before nextUpdate on its own (a test moves the
 * clock)": a running `fleetca server` whose clock libfaketime moves forward, past two thirds
 * of its CRL's life, signs the CRL again by itself, well before the old one's nextUpdate, and
 * serves it: a higher CRL number, thisUpdate at the moved clock, a later nextUpdate, and
 * openssl verifies it against the CA. Nothing asks it to: no revoke, no command.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { httpsRequest } from "./helpers/https-client.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

const FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
let server: ServerProcess | undefined;
after(async () => void (await server?.stop()));

/** The CRL's number and dates as openssl reads them. */
function crlFields(crlPem: string, caFile: string): { number: number; lastUpdate: Date; nextUpdate: Date } {
  const dir = tmpDir();
  const file = path.join(dir, "crl.pem");
  fs.writeFileSync(file, crlPem);
  const r = openssl(["crl", "-in", file, "-CAfile", caFile, "-noout", "-crlnumber", "-lastupdate", "-nextupdate"]);
  assert.ok(r.ok && /verify OK/.test(r.out), r.out);
  const field = (name: string) => /=(.*)$/m.exec(r.out.split("\n").find((l) => l.startsWith(name)) ?? "")?.[1] ?? "";
  return { number: Number.parseInt(field("crlNumber"), 16), lastUpdate: new Date(field("lastUpdate")), nextUpdate: new Date(field("nextUpdate")) };
}

test("a running server whose clock passes two thirds of its CRL's life signs the CRL again by itself, before nextUpdate", { skip: fs.existsSync(FAKETIME) ? false : "libfaketime is not installed (scripts/install-system-deps.sh)" }, async () => {
  const dir = tmpDir();
  const offset = path.join(dir, "faketime");
  fs.writeFileSync(offset, "+0\n");
  // crl_ttl 100 s: the server checks every 5 s (a twentieth of it, at least 5 s) and signs again after ~67 s.
  server = await startServer({
    dir,
    config: "key_type: ec\ncrl_ttl: 100s\n",
    // Only the wall clock moves: timers run on the monotonic clock, left alone. Read again at most once a second.
    env: { LD_PRELOAD: FAKETIME, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_CACHE_DURATION: "1", FAKETIME_DONT_FAKE_MONOTONIC: "1" },
  });
  const caFile = path.join(server.cadir, "ca_crt.pem");
  const caPem = fs.readFileSync(caFile, "utf8");
  const fetchCrl = async () => {
    const r = await httpsRequest(`${server!.url}/puppet-ca/v1/certificate_revocation_list/ca`, { ca: caPem, servername: "localhost" });
    assert.equal(r.status, 200);
    return crlFields(r.body, caFile);
  };
  const first = await fetchCrl();
  assert.ok(first.nextUpdate.getTime() - first.lastUpdate.getTime() <= 100_000, "crl_ttl sets nextUpdate");

  // Move the server's clock 80 s on: the CRL has 20 s left, past two thirds of its life.
  const movedAt = Date.now();
  fs.writeFileSync(offset, "+80\n");
  const line = await server.waitForLog((l) => l.msg === "crl re-signed", 60_000);
  const second = await fetchCrl();
  assert.ok(Date.now() < first.nextUpdate.getTime(), "signed again while the first CRL was still valid by the real clock");
  assert.ok(second.number > first.number, `a higher CRL number (${first.number} -> ${second.number})`);
  assert.ok(second.lastUpdate.getTime() >= movedAt + 79_000, `thisUpdate ${second.lastUpdate.toISOString()} is the moved clock's`);
  assert.ok(second.nextUpdate > first.nextUpdate);
  assert.equal(Math.floor(new Date(line.nextUpdate as string).getTime() / 1000) * 1000, second.nextUpdate.getTime(), "the log line names the CRL served");
  // The CA directory holds it too, for Puppet's tools and other servers.
  assert.equal(crlFields(fs.readFileSync(path.join(server.cadir, "ca_crl.pem"), "utf8"), caFile).number, second.number);
});
