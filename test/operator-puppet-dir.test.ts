/**
 * Puppet's directory, left as Puppet expects: on a CA directory owned by another user (Puppet Server runs as
 * `puppet`), fleetca run as root keeps the owner, group and mode of every file it replaces, and gives new files
 * the directory's owner; the server's credentials default outside Puppet Server's tree and take --ssldir.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { insidePuppetTree, serverSsldir } from "../src/cli/server.js";
import { loadSettings } from "../src/config/index.js";
import { fleetca } from "./helpers/cli.js";
import { tmpDir } from "./helpers/openssl.js";

const asRoot = process.getuid?.() === 0;
const dir = tmpDir("fleetca-puppetdir-");
after(() => fs.rmSync(dir, { recursive: true, force: true }));
/** "nobody" on Debian: a user that is not root and owns nothing here. */
const UID = 65534;
const GID = 65534;

function chownTree(p: string): void {
  fs.chownSync(p, UID, GID);
  if (fs.statSync(p).isDirectory()) for (const f of fs.readdirSync(p)) chownTree(path.join(p, f));
}

describe("a CA directory owned by another user", () => {
  test("files fleetca replaces keep owner, group and mode; new files get the directory's owner", { skip: !asRoot && "needs root (chown)" }, async () => {
    const cadir = path.join(dir, "puppetserver", "ca");
    assert.equal((await fleetca(["ca", "setup", "--cadir", cadir, "--key-type", "ec"])).code, 0);
    chownTree(path.join(dir, "puppetserver"));
    fs.chmodSync(path.join(cadir, "ca_crl.pem"), 0o640); // an operator's own choice, kept
    const before = (f: string) => fs.statSync(path.join(cadir, f));
    const crlMode = before("ca_crl.pem").mode & 0o777;
    const g = await fleetca(["ca", "generate", "n1.test", "--cadir", cadir, "--key-type", "ec", "--out", path.join(dir, "out")]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal((await fleetca(["ca", "revoke", "n1.test", "--cadir", cadir])).code, 0);
    for (const f of ["serial", "ca_crl.pem", "inventory.txt", "signed/n1.test.pem"]) {
      const st = before(f);
      assert.equal(`${st.uid}:${st.gid}`, `${UID}:${GID}`, `${f} is still owned by the CA directory's user`);
    }
    assert.equal(before("ca_crl.pem").mode & 0o777, crlMode, "ca_crl.pem keeps its mode");
  });

  test("the server's credentials: --ssldir as a flag; by default never inside Puppet's tree", async () => {
    const settings = (cadir: string, flags: Record<string, unknown> = {}) => loadSettings({ file: null, env: {}, flags: { cadir, ...flags } });
    assert.equal(insidePuppetTree("/etc/puppetlabs/puppetserver/ca"), true);
    assert.equal(insidePuppetTree("/etc/puppet/puppetserver/ca"), true);
    assert.equal(insidePuppetTree("/var/lib/fleetca/ca"), false);
    assert.equal(serverSsldir(settings("/etc/puppetlabs/puppetserver/ca")), "/var/lib/fleetca/ssl");
    assert.equal(serverSsldir(settings("/srv/ca/ca")), "/srv/ca/ssl");
    assert.equal(serverSsldir(settings("/etc/puppetlabs/puppetserver/ca", { ssldir: "/srv/creds" })), "/srv/creds");
    const help = await fleetca(["server", "--help"]);
    assert.match(help.stdout, /--ssldir <dir>/);
  });
});
