/**
 * Autosign with Puppet's semantics (reference 6) through the server: a glob file re-read on
 * every request, and a policy executable (argv, stdin, exit code, logged output, timeout).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { autosignerFor } from "../src/host/autosign.js";
import { OID } from "../src/pki/oids.js";
import { makeCsr, makeFixture, type Fixture } from "./helpers/server-fixture.js";
import { tmpDir } from "./helpers/openssl.js";

const V1 = "/puppet-ca/v1";
const dir = tmpDir("fleetca-autosign-");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function put(f: Fixture, name: string, opts: Parameters<typeof makeCsr>[1] = {}) {
  return f.app.inject({ method: "PUT", url: `${V1}/certificate_request/${name}`, payload: (await makeCsr(name, opts)).csrPem });
}

/** Gone or a zombie (a container's init may not reap orphans promptly). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function stateOf(f: Fixture, name: string): Promise<string> {
  return (await f.ca.status(name)).state;
}

async function fixtureWith(file: string, timeout = 5): Promise<Fixture> {
  return makeFixture({ autosign: file, autosignTimeout: timeout }, (log) => autosignerFor(file, timeout, log));
}

describe("glob file", () => {
  test("Puppet's observed matches, invalid lines logged and skipped, edits picked up without restart", async () => {
    const file = path.join(dir, "autosign.conf");
    fs.writeFileSync(file, ["# comment line", "*.auto.example.com", "exact.example.com", "  # indented comment", "spaced.example.com   ", "*.test", "foo*.example.com", ""].join("\n"));
    const f = await fixtureWith(file);
    const expected: [string, string][] = [
      ["a.auto.example.com", "signed"],
      ["b.c.auto.example.com", "signed"],
      ["auto.example.com", "signed"],
      ["exact.example.com", "signed"],
      ["xexact.example.com", "requested"],
      ["spaced.example.com", "requested"],
      ["host.test", "signed"],
      ["foo1.example.com", "requested"],
    ];
    for (const [name, state] of expected) {
      assert.equal((await put(f, name)).statusCode, 200, name);
      assert.equal(await stateOf(f, name), state, name);
    }
    assert.ok(f.logs.some((l) => l.msg === `Invalid pattern 'spaced.example.com   ' found in ${file}` && l.level === 50));
    fs.appendFileSync(file, "late.example.org\n");
    await put(f, "late.example.org");
    assert.equal(await stateOf(f, "late.example.org"), "signed");
  });

  test("a missing file signs nothing", async () => {
    const f = await fixtureWith(path.join(dir, "absent.conf"));
    await put(f, "x.example.com");
    assert.equal(await stateOf(f, "x.example.com"), "requested");
  });
});

describe("policy executable", () => {
  const script = path.join(dir, "policy.sh");
  const seen = path.join(dir, "seen.log");
  fs.writeFileSync(
    script,
    `#!/bin/sh
csr=$(cat)
echo "argc=$# argv=$1 cwd=$(pwd)" >> ${seen}
echo "$csr" | head -1 >> ${seen}
if echo "$csr" | openssl req -noout -text 2>/dev/null | grep -q letmein; then echo "approved $1 via challengePassword"; exit 0; fi
case "$1" in
  policy-ok*) echo "approved $1 by name"; exit 0;;
  *) echo "stdout: rejecting $1"; echo "stderr: rejecting $1" >&2; exit 3;;
esac
`,
    { mode: 0o755 },
  );

  test("certname as the only argument, CSR on stdin, cwd /; exit 0 signs, non-zero leaves it pending and is logged", async () => {
    const f = await fixtureWith(script);
    assert.equal((await put(f, "policy-ok1.example.com")).statusCode, 200);
    assert.equal(await stateOf(f, "policy-ok1.example.com"), "signed");
    const no = await put(f, "policy-no1.example.com");
    assert.equal(no.statusCode, 200, "Puppet still answers 200");
    assert.equal(await stateOf(f, "policy-no1.example.com"), "requested");
    await put(f, "policy-pw.example.com", { attributes: [{ oid: OID.challengePassword, value: "letmein" }] });
    assert.equal(await stateOf(f, "policy-pw.example.com"), "signed", "the policy read the challengePassword from stdin");
    const log = fs.readFileSync(seen, "utf8");
    assert.match(log, /argc=1 argv=policy-ok1.example.com cwd=\//);
    assert.match(log, /-----BEGIN CERTIFICATE REQUEST-----/);
    const messages = f.logs.map((l) => l.msg);
    assert.ok(messages.includes(`Autosign command '${script} policy-no1.example.com' generated output to stderr: stderr: rejecting policy-no1.example.com`));
    assert.ok(messages.includes(`Autosign command '${script}' rejected certificate 'policy-no1.example.com' because the exit code was 3, not zero`));
    assert.ok(messages.includes(`Autosign command '${script} policy-ok1.example.com' generated output to stdout: approved policy-ok1.example.com by name`));
  });

  test("a policy that hangs is killed at autosign_timeout (its children too), the request stays pending, and other requests are served meanwhile", async () => {
    const slow = path.join(dir, "slow.sh");
    const pidFile = path.join(dir, "sleep.pid");
    fs.writeFileSync(slow, `#!/bin/sh\nsleep 30 &\necho $! > ${pidFile}\nwait\n`, { mode: 0o755 });
    const f = await fixtureWith(slow, 1);
    const started = Date.now();
    const pending = put(f, "slow.example.com");
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const status = await f.app.inject({ url: "/status/v1/simple" });
    assert.equal(status.body, "running");
    assert.ok(Date.now() - t0 < 200, "not blocked by the running policy");
    assert.equal((await pending).statusCode, 200);
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 3000, `answered at the timeout (${took} ms)`);
    assert.equal(await stateOf(f, "slow.example.com"), "requested");
    const sleepPid = Number(fs.readFileSync(pidFile, "utf8"));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(sleepPid), "the policy's child was killed with it");
    assert.ok(f.logs.some((l) => String(l.msg).includes("within 1s (autosign_timeout) and was killed")));
  });

  test("a file that is not executable is read as a glob file", async () => {
    const globs = path.join(dir, "plain.conf");
    fs.writeFileSync(globs, "*.plain.test\n", { mode: 0o644 });
    const f = await fixtureWith(globs);
    await put(f, "a.plain.test");
    assert.equal(await stateOf(f, "a.plain.test"), "signed");
  });
});
