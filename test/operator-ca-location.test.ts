/**
 * Finding the CA: one config file read by the server and every `ca` command (--config, FLEETCA_CONFIG), and a
 * refusal with a non-zero exit, naming the flags and settings that point elsewhere, wherever there is no CA.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { bufferIo } from "../src/cli/io.js";
import { run } from "../src/cli/main.js";
import { fleetca } from "./helpers/cli.js";
import { tmpDir } from "./helpers/openssl.js";

const dir = tmpDir("fleetca-location-");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function withEnv(env: NodeJS.ProcessEnv, args: string[]) {
  const io = bufferIo(env, dir);
  const code = await run(args, io);
  return { code, stdout: io.stdout.join("\n"), stderr: io.stderr.join("\n") };
}

describe("where the CA is", () => {
  const cadir = path.join(dir, "ca");
  const config = path.join(dir, "fleetca.yaml");

  test("a config file naming the CA serves every ca command, by --config or FLEETCA_CONFIG", async () => {
    fs.writeFileSync(config, `cadir: ${cadir}\nkey_type: ec\n`);
    assert.equal((await fleetca(["ca", "setup", "--config", config])).code, 0);
    assert.ok(fs.existsSync(path.join(cadir, "ca_crt.pem")));
    const g = await fleetca(["ca", "generate", "node1.test", "--config", config, "--out", path.join(dir, "out")]);
    assert.equal(g.code, 0, g.stderr);
    const byFlag = await fleetca(["ca", "list", "--all", "--config", config]);
    assert.match(byFlag.stdout, /\+ "node1\.test"/);
    const byEnv = await withEnv({ FLEETCA_CONFIG: config }, ["ca", "list", "--all"]);
    assert.equal(byEnv.code, 0, byEnv.stderr);
    assert.equal(byEnv.stdout, byFlag.stdout);
  });

  const empty = path.join(dir, "no-ca-here");
  const cases: [string, string[]][] = [
    ["sign --all", ["ca", "sign", "--all"]],
    ["clean", ["ca", "clean", "node1.test"]],
    ["revoke", ["ca", "revoke", "node1.test"]],
    ["list", ["ca", "list"]],
    ["list --all", ["ca", "list", "--all"]],
    ["verify", ["ca", "verify", "node1.test"]],
    ["print", ["ca", "print", "node1.test"]],
  ];
  for (const [what, args] of cases) {
    test(`${what} where there is no CA: refused, non-zero, naming the flags and settings, writing nothing`, async () => {
      const r = await fleetca([...args, "--cadir", empty]);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, new RegExp(`No CA found in cadir ${empty} \\(from flag --cadir\\)`));
      for (const words of ["--cadir DIR", "setting cadir", "--store URL", "setting store", "--config FILE", "fleetca ca setup", "fleetca ca import"]) {
        assert.ok(r.stderr.includes(words), `${words} in: ${r.stderr}`);
      }
      assert.doesNotMatch(r.stderr, /No certificate requests are pending|Cleaned/);
      assert.equal(fs.existsSync(empty), false, "no directory created where the CA was not");
    });
  }

  test("the refusal says where the location came from: the default, or the config file", async () => {
    const r = await withEnv({ FLEETCA_CONFIG: path.join(dir, "other.yaml") }, ["ca", "list"]);
    assert.notEqual(r.code, 0); // FLEETCA_CONFIG names a missing file: a config error
    fs.writeFileSync(path.join(dir, "other.yaml"), `cadir: ${empty}\n`);
    const fromFile = await withEnv({ FLEETCA_CONFIG: path.join(dir, "other.yaml") }, ["ca", "sign", "--all"]);
    assert.notEqual(fromFile.code, 0);
    assert.match(fromFile.stderr, new RegExp(`No CA found in cadir ${empty} \\(from config file ${path.join(dir, "other.yaml")} line 1\\)`));
  });
});
