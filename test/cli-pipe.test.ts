/** `fleetca ca list --all | head`: a reader that goes away early is not an error. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { tmpDir } from "./helpers/openssl.js";

test("sign --all piped into a reader that closes at once still signs everything and exits 0", async () => {
  const cadir = path.join(tmpDir(), "ca");
  assert.equal((await fleetca(["ca", "setup", "--cadir", cadir, "--key-type", "ec"])).code, 0);
  for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(cadir, "requests", `pipe${i}.example.com.pem`), opensslCsr(`pipe${i}.example.com`).csrPem);
  const root = path.resolve(import.meta.dirname, "..");
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "test/helpers/cli-entry.ts"), "ca", "sign", "--all", "--cadir", cadir], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy(); // the reader (`head -0`) is gone before the first line
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE/);
  assert.equal(fs.readdirSync(path.join(cadir, "signed")).length, 100);

  // list writes its lines as bytes and waits for each chunk to be taken: a reader gone must not hang it.
  const list = spawn(process.execPath, ["--import", "tsx", path.join(root, "test/helpers/cli-entry.ts"), "ca", "list", "--all", "--cadir", cadir], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  list.stdout.destroy();
  let listErr = "";
  list.stderr.on("data", (d) => (listErr += d));
  assert.equal(await new Promise<number | null>((resolve) => list.on("close", resolve)), 0, listErr);
  assert.doesNotMatch(listErr, /EPIPE/);
});
