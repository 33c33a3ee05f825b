/** The agent's small pieces: csr_attributes.yaml, fingerprints, the ssldir, clean, and how errors are printed. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { parseCsrAttributes } from "../src/agent/csr-attributes.js";
import { AgentError, KEY_MISMATCH_MESSAGE, reenroll } from "../src/agent/errors.js";
import { cleanSsldir } from "../src/agent/local.js";
import { Ssldir } from "../src/agent/ssldir.js";
import { splitCrls } from "../src/agent/transport.js";
import { normalizeFingerprint } from "../src/agent/trust.js";
import { fixContext } from "../src/cli/agent-common.js";
import { AGENT_EXIT, eventLine, printAgentError } from "../src/cli/agent-render.js";
import { Exit } from "../src/cli/exit-codes.js";
import { bufferIo } from "../src/cli/io.js";
import { loadSettings } from "../src/config/index.js";
import { tmpDir } from "./helpers/openssl.js";

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe("CRL bundles", () => {
  it("are handed to TLS one CRL at a time (Node reads only the first CRL of a string; Puppet's intermediate CA serves two)", () => {
    const crl = (n: number) => `-----BEGIN X509 CRL-----\nMIIB${n}\n-----END X509 CRL-----`;
    assert.deepEqual(splitCrls(`${crl(1)}\n${crl(2)}\n`), [`${crl(1)}\n`, `${crl(2)}\n`]);
    assert.deepEqual(splitCrls("junk"), ["junk"]);
  });
});

describe("csr_attributes.yaml", () => {
  it("reads custom_attributes and extension_requests by short name, attribute name or OID", () => {
    const a = parseCsrAttributes(
      "custom_attributes:\n  challengePassword: 'pw'\n  1.2.840.113549.1.9.2: host\nextension_requests:\n  pp_environment: production\n  1.3.6.1.4.1.34380.1.2.5: 42\n",
      "f.yaml",
    );
    assert.deepEqual(a.attributes, [
      { oid: "1.2.840.113549.1.9.7", value: "pw" },
      { oid: "1.2.840.113549.1.9.2", value: "host" },
    ]);
    assert.deepEqual(a.extensionRequests, [
      { oid: "1.3.6.1.4.1.34380.1.1.12", value: "production" },
      { oid: "1.3.6.1.4.1.34380.1.2.5", value: "42" },
    ]);
  });

  it("an empty file means no attributes; YAML 1.1 booleans become their text, as Ruby writes them", () => {
    assert.deepEqual(parseCsrAttributes("", "f"), { attributes: [], extensionRequests: [] });
    assert.equal(parseCsrAttributes("extension_requests:\n  pp_role: on\n", "f").extensionRequests[0]!.value, "true");
  });

  it("says what is wrong, naming the file", () => {
    const bad = (text: string, re: RegExp) => assert.throws(() => parseCsrAttributes(text, "/etc/x.yaml"), (e: AgentError) => e.kind === "invalid-file" && re.test(e.message) && e.message.includes("/etc/x.yaml"));
    bad("extension_requests:\n  pp_nope: 1\n", /unknown extension "pp_nope"/);
    bad("custom_attributes:\n  favourite: 1\n", /unknown attribute "favourite"/);
    bad("extension_requests:\n  2.5.29.17: x\n", /dns-alt-names/);
    bad("other: 1\n", /unexpected key\(s\) other/);
    bad("- a\n- b\n", /expected a mapping/);
    bad("extension_requests:\n  pp_role: [a, b]\n", /single value/);
    bad("custom_attributes: [\n", /not valid YAML/);
  });
});

describe("fingerprints for --ca-fingerprint", () => {
  const fp = "AB".repeat(32).match(/../g)!.join(":");
  it("accepts the forms people paste", () => {
    for (const v of [fp, fp.toLowerCase(), fp.replace(/:/g, ""), `SHA256:${fp}`, `(SHA256) ${fp}`]) assert.equal(normalizeFingerprint(v), fp, v);
  });
  it("refuses anything that is not 32 bytes of hex", () => {
    for (const v of ["", "AB:CD", fp.slice(3), `${fp}:00`, "zz".repeat(32)]) assert.equal(normalizeFingerprint(v), undefined, v);
  });
});

describe("ssldir", () => {
  it("writes atomically with Puppet's layout and modes, and clean keeps the CA unless --all", async () => {
    const base = tmpDir("fleetca-ssldir-");
    dirs.push(base);
    const d = new Ssldir(path.join(base, "ssl"), "n1");
    for (const f of ["ca", "crl", "privateKey", "publicKey", "request", "cert"] as const) await d.write(f, `${f}\n`);
    assert.equal(fs.statSync(d.path("privateKey")).mode & 0o777, 0o600);
    assert.equal(fs.statSync(d.path("cert")).mode & 0o777, 0o644);
    assert.equal(fs.statSync(path.join(d.root, "private")).mode & 0o777, 0o750);
    assert.deepEqual(fs.readdirSync(path.join(d.root, "certs")).sort(), ["ca.pem", "n1.pem"], "no temporary files left");
    const removed = await cleanSsldir(d, false);
    assert.deepEqual(removed.map((r) => r.file), ["privateKey", "publicKey", "cert", "request"]);
    assert.ok(fs.existsSync(d.path("ca")) && fs.existsSync(d.path("crl")));
    assert.deepEqual((await cleanSsldir(d, true)).map((r) => r.file), ["ca", "crl"]);
    assert.equal(await d.read("ca"), undefined);
  });
});

describe("printing agent errors", () => {
  it("every kind has an exit code, and the recovery kinds have distinct ones", () => {
    const recovery = ["not-signed", "key-mismatch", "ca-changed", "revoked", "not-yet-valid", "expired", "timed-out", "unavailable"] as const;
    assert.equal(new Set(recovery.map((k) => AGENT_EXIT[k])).size, recovery.length);
    assert.equal(AGENT_EXIT["not-signed"], Exit.NOT_SIGNED);
    assert.equal(AGENT_EXIT.expired, Exit.EXPIRED);
  });

  it("prints the message, the facts and the exact fix commands with the user's own flags", () => {
    const io = bufferIo();
    const settings = loadSettings({ file: null, env: {}, flags: { certname: "n1.example.com", ssldir: "/tmp/my ssl", server: "ca.example.com" } });
    const fix = fixContext({ certname: "n1.example.com", ssldir: "/tmp/my ssl", server: "ca.example.com" }, settings);
    const code = printAgentError(io, new AgentError("key-mismatch", KEY_MISMATCH_MESSAGE, { details: ["private key: /x"], remedies: reenroll("n1.example.com") }), fix);
    assert.equal(code, Exit.KEY_MISMATCH);
    assert.deepEqual(io.stderr, [
      `Error: ${KEY_MISMATCH_MESSAGE}`,
      "  private key: /x",
      "To fix this:",
      "  on the CA server:  fleetca ca clean n1.example.com   (Puppet Server: puppetserver ca clean --certname n1.example.com)",
      "  on this node:      fleetca agent clean --ssldir '/tmp/my ssl' --certname n1.example.com",
      "  on this node:      fleetca agent bootstrap --server ca.example.com --ssldir '/tmp/my ssl' --certname n1.example.com",
    ]);
  });

  it("one line per step; warnings on stderr", () => {
    assert.deepEqual(eventLine({ type: "cert-on-disk", found: false, path: "/s/certs/n.pem" }), ["out", "Certificate: none yet in /s/certs/n.pem"]);
    assert.equal(eventLine({ type: "refresh-failed", what: "CRL", reason: "down" })[0], "err");
    const wait = eventLine({ type: "not-signed", certname: "n", waitedSeconds: 1, nextInSeconds: 1, maxSeconds: 0 })[1];
    assert.equal(wait, "Certificate for n has not been signed yet; checking again in 1s (waited 1s of unlimited)");
  });
});
