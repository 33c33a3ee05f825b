/**
 * `fleetca server --workers 2`: two server processes on one port and one CA directory, as an
 * operator runs it to use two cores. What a user sees: one start summary, agents enrolled by
 * both processes with distinct serials, a killed worker replaced without a refused agent, and
 * SIGTERM stopping every process.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { fleetca } from "./helpers/cli.js";
import { openssl, tmpDir, withFile } from "./helpers/openssl.js";
import { startServer } from "./helpers/server-process.js";
import { asNode, enrollSimulated, type SimulatedNode } from "./helpers/simulated-node.js";

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("fleetca server --workers 2: one port, one CA, both processes sign; a killed worker is replaced; SIGTERM stops all", async () => {
  const dir = tmpDir();
  const server = await startServer({ dir, config: "key_type: ec\nautosign: true\n", args: ["--workers", "2"] });
  let pids: number[] = [];
  try {
    const started = await server.waitForLog((l) => l.msg === "workers listening");
    pids = started.pids as number[];
    assert.equal(pids.length, 2);
    assert.ok(!pids.includes(server.child.pid!), "the workers are processes of their own");
    assert.match(server.stderr(), /Workers: 2 server processes share the port/);
    assert.equal(server.stderr().match(/^Enroll an agent:/gm)?.length, 1, "one start summary, not one per worker");

    const caPem = fs.readFileSync(path.join(server.cadir, "ca_crt.pem"), "utf8");
    const nodes: SimulatedNode[] = [];
    // Each request on a connection of its own: the primary hands connections out in turn.
    for (let i = 0; i < 12; i++) nodes.push(await enrollSimulated(server.url, caPem, `w${String(i).padStart(2, "0")}.example.com`));
    // Log lines reach stdout within 100 ms of their request (src/server/log.ts).
    const servedBy = () => new Set(server!.logs().filter((l) => l.msg === "request" && String(l.path).startsWith("/puppet-ca/")).map((l) => l.pid));
    await server.waitForLog(() => pids.every((pid) => servedBy().has(pid)), 5_000).catch(() => undefined);
    assert.deepEqual([...servedBy()].sort(), [...pids].sort(), "both workers answered agents");

    // A worker dies (a connection it held dies with it, as with any server): once the primary
    // has seen it go, the other one takes every agent, and the primary starts a new one.
    process.kill(pids[0]!, "SIGKILL");
    await server.waitForLog((l) => typeof l.msg === "string" && /^worker 1 \(pid \d+\) exited \(killed by SIGKILL\); starting another/.test(l.msg));
    for (let i = 12; i < 16; i++) nodes.push(await enrollSimulated(server.url, caPem, `w${i}.example.com`));
    const replaced = await server.waitForLog((l) => l.msg === "worker replaced");
    const fresh = replaced.workerPid as number;
    assert.ok(!pids.includes(fresh) && alive(fresh));
    pids.push(fresh);
    for (let i = 16; i < 20; i++) nodes.push(await enrollSimulated(server.url, caPem, `w${i}.example.com`));

    // One CA: every certificate verifies against it, no serial twice, all listed as signed.
    const serials = nodes.map((n) => parseCertificatePem(n.certPem).serial);
    assert.equal(new Set(serials).size, nodes.length, "no serial issued twice");
    for (const n of [nodes[0]!, nodes[19]!]) {
      const v = withFile(caPem, (ca) => withFile(n.certPem, (c) => openssl(["verify", "-CAfile", ca, c])));
      assert.ok(v.ok, v.out);
    }
    const list = await fleetca(["ca", "list", "--all", "--cadir", server.cadir]);
    assert.equal(list.code, 0, list.stderr);
    for (const n of nodes) assert.match(list.stdout, new RegExp(`\\+ "${n.name.replace(/\./g, "\\.")}"`));

    // A revoke by the CLI is enforced by every worker: four connections, handed out in turn.
    assert.equal((await asNode(server.url, caPem, nodes[1]!)).status, 200);
    const revoked = await fleetca(["ca", "revoke", "--cadir", server.cadir, nodes[1]!.name]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const since = server.logs().length;
    const refusedBy = () => new Set(server.logs().slice(since).filter((l) => l.msg === "request" && l.status === 403).map((l) => l.pid));
    for (const deadline = Date.now() + 15_000; refusedBy().size < 2 && Date.now() < deadline; ) await asNode(server.url, caPem, nodes[1]!);
    assert.equal(refusedBy().size, 2, "both workers refuse it");
    for (let i = 0; i < 4; i++) assert.equal((await asNode(server.url, caPem, nodes[1]!)).status, 403, "and go on refusing it");
  } finally {
    const code = await server.stop("SIGTERM");
    assert.equal(code, 0, server.stderr());
  }
  assert.ok(server.logs().some((l) => l.msg === "workers stopped"));
  assert.equal(server.logs().filter((l) => l.msg === "stopped").length, 2, "each live worker stopped once");
  for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} stopped with the primary`);
});
