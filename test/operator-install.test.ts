/**
 * Installing and running fleetca as an operator does: `--version`, `npm start` ending with the
 * server on SIGTERM, the systemd unit checked by systemd-analyze, every README command accounted for, the package
 * npm packs (its files, and it starts unpacked), and (FLEETCA_INSTALL_TEST=1: `npm ci` and `npm link` of a fresh
 * copy into a temporary prefix, about a minute) the README's install command.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fleetca } from "./helpers/cli.js";
import { tmpDir } from "./helpers/openssl.js";
import { freePort } from "./helpers/server-process.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string; scripts: Record<string, string> };
const dir = tmpDir("fleetca-install-");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A copy of the sources (not dist/), sharing node_modules, so a build there leaves the repository's dist/ alone. */
function sourceCopy(name: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  // Every tracked top-level entry the build may read (src, web, scripts, bin, configs), not tests or docs.
  const tracked = execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" }).split("\n").map((f) => f.split("/")[0]!);
  for (const f of new Set(tracked)) {
    if (!f || ["test", "bench", "docs", ".ci"].includes(f) || !fs.existsSync(path.join(ROOT, f))) continue;
    fs.cpSync(path.join(ROOT, f), path.join(d, f), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(d, "node_modules"));
  return d;
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });

describe("install and run", () => {
  test("fleetca --version prints package.json's version", async () => {
    const r = await fleetca(["--version"]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
    assert.match((await fleetca(["--help"])).stdout, /-V, --version/);
  });

  test("installing builds dist/ (a prepare script), and npm start execs node so SIGTERM stops the server", async () => {
    assert.match(pkg.scripts.prepare ?? "", /npm run build/);
    assert.match(pkg.scripts.start ?? "", /&& exec node bin\/fleetca\.js server/);
    const copy = sourceCopy("start");
    const port = await freePort();
    const config = path.join(dir, "empty.yaml");
    fs.writeFileSync(config, "");
    const env = {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      FLEETCA_CONFIG: config,
      FLEETCA_CADIR: path.join(copy, "state/ca"),
      FLEETCA_PORT: String(port),
      FLEETCA_KEY_TYPE: "ec",
      FLEETCA_CERTNAME: "localhost",
    };
    const npm = spawn("npm", ["start"], { cwd: copy, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    npm.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    npm.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    // "exit", not "close": an orphaned server would hold the pipes open.
    const exited = new Promise<number | null>((resolve) => npm.on("exit", (code) => resolve(code)));
    while (!out.includes('"msg":"listening"')) {
      assert.equal(npm.exitCode, null, `npm start exited early:\n${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const pid = (JSON.parse(out.split("\n").find((l) => l.includes('"msg":"listening"'))!) as { pid: number }).pid;
    assert.ok(await listening(port));
    // The start summary names the exact command that reaches this CA; pasted, it works.
    const manage = /Manage it \(list, sign, revoke\): (fleetca ca list.*)$/m.exec(err)?.[1];
    assert.equal(manage, `fleetca ca list --cadir ${env.FLEETCA_CADIR}`);
    const listed = await fleetca([...manage.split(" ").slice(1), "--all"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /\+ "localhost"/);
    npm.kill("SIGTERM");
    await exited;
    await new Promise((r) => setTimeout(r, 500)); // let the last log lines through the pipe
    assert.match(out, /"msg":"stopped"/, "the server itself got the signal and stopped");
    assert.equal(await listening(port), false, "nothing listens after npm start ended");
    let orphan = true;
    try {
      process.kill(pid, 0);
    } catch {
      orphan = false;
    }
    if (orphan) process.kill(pid, "SIGKILL");
    assert.equal(orphan, false, "no orphaned server process");
  });

  test("the systemd unit: simple, SIGHUP reload, its own user and directories, hardened, and systemd-analyze verify accepts it", (t) => {
    const unit = fs.readFileSync(path.join(ROOT, "deploy/systemd/fleetca.service"), "utf8");
    for (const line of [
      /^Type=(simple|notify)$/m,
      /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m,
      /^User=fleetca$/m,
      /^StateDirectory=fleetca$/m,
      /^ProtectSystem=strict$/m,
      /^NoNewPrivileges=yes$/m,
      /^ExecStart=\/usr\/bin\/fleetca server$/m,
    ]) assert.match(unit, line);
    if (spawnSync("systemd-analyze", ["--version"]).status !== 0) return t.skip("systemd-analyze is not installed");
    // verify checks that ExecStart's program exists: point it at this checkout's bin.
    const copy = path.join(dir, "fleetca.service");
    fs.writeFileSync(copy, unit.replace("/usr/bin/fleetca", path.join(ROOT, "bin/fleetca.js")));
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", copy], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), "", "no warning (an unknown or misspelt key is only a warning)");
    fs.writeFileSync(copy, unit.replace("ExecReload=", "ExecReloadd="));
    assert.match(spawnSync("systemd-analyze", ["verify", "--man=no", copy], { encoding: "utf8" }).stderr, /Unknown key/, "the check can fail");
  });

  test("every command in the README's sh blocks is checked by a test, or skipped here saying why", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const lines = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split("\n")).map((l) => l.replace(/\s+#.*$/, "").replace(/^#.*$/, "").trim()).filter(Boolean);
    const checkedBy: Record<string, string> = {
      "npm ci && npm link": "the FLEETCA_INSTALL_TEST=1 test below (npm ci of a fresh copy, ~1 minute); in CI, the package file list test",
      "fleetca --version": "\"fleetca --version prints package.json's version\" above; installed, the FLEETCA_INSTALL_TEST=1 test",
      "npm start": "\"installing builds dist/ ... npm start\" above, with FLEETCA_ variables in place of root's directories and port 8140, as the README says",
      "puppet ssl bootstrap --server ca.example.com --serverport 8140": "test/operator-paste.test.ts (the README's enrollment lines)",
      "fleetca agent bootstrap --server ca.example.com": "test/operator-paste.test.ts (the README's enrollment lines)",
      // Skipped: it is what CI runs (.ci/run: npm ci, then npm test); a test cannot run the suite it is part of.
      "npm ci && npm test": "skipped: CI itself",
    };
    assert.deepEqual([...new Set(lines)].sort(), Object.keys(checkedBy).sort(), "a README command no test checks (or one this list names that the README dropped)");
  });

  test("the package npm would publish carries the CLI: bin, the built dist/ and the docs, not the tests", () => {
    const packed = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })) as { files: { path: string }[] }[];
    const files = packed[0]!.files.map((f) => f.path);
    assert.ok(files.includes("bin/fleetca.js"));
    assert.ok(files.includes("deploy/systemd/fleetca.service"));
    assert.ok(files.includes("docs/install.md"));
    // dist/ exists once built (CI builds before the tests): then it is in the package, or `fleetca` cannot start.
    if (fs.existsSync(path.join(ROOT, "dist/cli/main.js"))) assert.ok(files.includes("dist/cli/main.js"), "dist/ is packed");
    assert.ok(!files.some((f) => f.startsWith("test/") || f.startsWith("src/")), "no tests or sources");
  });

  test("the packed package starts: `fleetca --version` from the unpacked tarball (its dependencies beside it)", (t) => {
    if (!fs.existsSync(path.join(ROOT, "dist/cli/main.js"))) return t.skip("dist/ is not built (npm run build; CI builds before the tests)");
    // `npm install --global --offline` of the tarball is not possible here: npm resolves the dependencies through
    // registry metadata that `npm ci` does not cache, so it would download; the FLEETCA_INSTALL_TEST=1 test installs
    // for real. Unpacked, with this checkout's node_modules beside it, the tarball shows it holds all it needs.
    const out = path.join(dir, "pack");
    fs.mkdirSync(out);
    execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", out], { cwd: ROOT, stdio: "ignore" });
    const tgz = fs.readdirSync(out).find((f) => f.endsWith(".tgz"))!;
    execFileSync("tar", ["-xzf", path.join(out, tgz), "-C", out]);
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(out, "package", "node_modules"));
    const version = execFileSync(process.execPath, [path.join(out, "package", "bin", "fleetca.js"), "--version"], { encoding: "utf8" });
    assert.equal(version.trim(), pkg.version);
  });

  test("the README's install command on a fresh copy leaves fleetca built and on the PATH", { skip: process.env.FLEETCA_INSTALL_TEST !== "1" && "set FLEETCA_INSTALL_TEST=1 (npm ci of a fresh copy, ~1 minute)" }, () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const install = /^(npm ci && npm link)\b.*$/m.exec(readme)?.[1];
    assert.ok(install, "the README shows the install command");
    const copy = path.join(dir, "fresh");
    fs.mkdirSync(copy);
    const files = execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter((f) => f && fs.existsSync(path.join(ROOT, f)));
    for (const f of files) fs.cpSync(path.join(ROOT, f), path.join(copy, f), { recursive: true });
    const prefix = path.join(dir, "prefix");
    const env = { ...process.env, npm_config_prefix: prefix, npm_config_audit: "false", npm_config_fund: "false" };
    execFileSync("sh", ["-c", install], { cwd: copy, env, stdio: "ignore" });
    const version = execFileSync("fleetca", ["--version"], { env: { PATH: `${path.join(prefix, "bin")}:/usr/bin:/bin` }, encoding: "utf8" });
    assert.equal(version.trim(), pkg.version);
  });
});
