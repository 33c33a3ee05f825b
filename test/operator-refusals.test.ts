/**
 * Every refusal says why where the operator looks: each 4xx is logged with the words the client got, and a node
 * that lost its key after submitting shows up in the log (both fingerprints), in `ca list` (superseded) and in
 * `ca sign` (a warning naming the command that lets its new request in). The commands are pasted as printed.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fingerprint } from "../src/pki/fingerprint.js";
import { fromPem } from "../src/pki/pem.js";
import { fleetca } from "./helpers/cli.js";
import { httpsRequest } from "./helpers/https-client.js";
import { tmpDir } from "./helpers/openssl.js";
import { makeCsr } from "./helpers/server-fixture.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

const V1 = "/puppet-ca/v1";
const dir = tmpDir("fleetca-refusals-");
let server: ServerProcess;
let caPem: string;
before(async () => {
  server = await startServer({ dir: path.join(dir, "server"), config: "key_type: ec\nautosign: false\n" });
  caPem = fs.readFileSync(path.join(server.ssldir, "certs/ca.pem"), "utf8");
});
after(async () => {
  await server?.stop("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

const put = (name: string, csrPem: string) =>
  httpsRequest(`${server.url}${V1}/certificate_request/${name}`, { method: "PUT", body: csrPem, headers: { "content-type": "text/plain" }, ca: caPem, servername: "localhost" });
const csrSha = (pem: string) => fingerprint(fromPem(pem, ["CERTIFICATE REQUEST"], "request"));
const requestLog = (p: string, status: number) => server.waitForLog((l) => l.msg === "request" && l.path === p && l.status === status);
/** Runs a command line as printed ("fleetca ca clean --cadir DIR x"): it names the CA it was printed for. */
const paste = (line: string) => fleetca(line.replace(/^fleetca /, "").split(" "));

describe("refusals, logged and explained", () => {
  test("each 4xx is logged with the reason the client was given, in the same words", async () => {
    const { csrPem } = await makeCsr("other.test");
    const mismatch = await put("named.test", csrPem);
    assert.equal(mismatch.status, 400);
    assert.equal((await requestLog(`${V1}/certificate_request/named.test`, 400)).reason, mismatch.body.trim());
    const missing = await httpsRequest(`${server.url}${V1}/certificate/nobody.test`, { ca: caPem, servername: "localhost" });
    assert.equal(missing.status, 404);
    assert.equal((await requestLog(`${V1}/certificate/nobody.test`, 404)).reason, missing.body.trim());
    const forbidden = await httpsRequest(`${server.url}${V1}/certificate_status/named.test`, { ca: caPem, servername: "localhost" });
    assert.equal(forbidden.status, 403);
    assert.equal((await requestLog(`${V1}/certificate_status/named.test`, 403)).reason, forbidden.body.trim());
  });

  test("a node that lost its key: both fingerprints logged, list marks the old request superseded, sign warns, the printed fix lets the new request in", async () => {
    const lost = await makeCsr("lostkey.test");
    const fresh = await makeCsr("lostkey.test");
    assert.equal((await put("lostkey.test", lost.csrPem)).status, 200);
    const refused = await put("lostkey.test", fresh.csrPem);
    assert.equal(refused.status, 400);
    assert.match(refused.body, /lostkey\.test already has a requested certificate/);
    const p = `${V1}/certificate_request/lostkey.test`;
    assert.equal((await requestLog(p, 400)).reason, refused.body.trim());
    const audit = await server.waitForLog((l) => l.msg === "audit" && l.event === "submitted" && l.outcome === "refused" && l.name === "lostkey.test");
    assert.equal(audit.detail, `pending request SHA256 ${csrSha(lost.csrPem)}; refused request SHA256 ${csrSha(fresh.csrPem)}`);

    const list = await fleetca(["ca", "list", "--cadir", server.cadir]);
    const line = list.stdout.split("\n").find((l) => l.includes('"lostkey.test"'));
    assert.ok(line?.includes(`(SHA256) ${csrSha(lost.csrPem)}`), list.stdout);
    assert.ok(line?.includes(`superseded: a newer request with another key, SHA256 ${csrSha(fresh.csrPem)}`), line);
    const json = JSON.parse((await fleetca(["ca", "list", "--format", "json", "--cadir", server.cadir])).stdout) as { requested: { name: string; superseded_by?: { sha256: string } }[] };
    assert.equal(json.requested.find((r) => r.name === "lostkey.test")?.superseded_by?.sha256, csrSha(fresh.csrPem));

    const fix = /to let it in: (fleetca ca clean --cadir \S+ lostkey\.test)\)/.exec(line ?? "")?.[1];
    assert.ok(fix, line);
    // sign warns before signing the request whose key is lost, and names the same command.
    const signed = await fleetca(["ca", "sign", "lostkey.test", "--cadir", server.cadir]);
    assert.equal(signed.code, 0);
    assert.match(signed.stderr, /Warning: the pending request for lostkey\.test .* was superseded/);
    assert.ok(signed.stderr.includes(`To let the node's new request in instead: ${fix}`), signed.stderr);

    const cleaned = await paste(fix);
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.equal((await put("lostkey.test", fresh.csrPem)).status, 200, "the node's new request gets in");
    const after = await fleetca(["ca", "list", "--cadir", server.cadir]);
    assert.doesNotMatch(after.stdout, /superseded/);
    const again = await fleetca(["ca", "sign", "lostkey.test", "--cadir", server.cadir]);
    assert.equal(again.code, 0);
    assert.equal(again.stderr, "", "no warning for the node's current request");
  });
});
