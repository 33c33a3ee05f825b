import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  ConfigError,
  DEFAULT_CONFIG_FILE,
  DEFAULTS,
  formatDuration,
  loadSettings,
  parseDuration,
  settingKeyOf,
  settingsSummary,
  tryParseDuration,
  type LoadOptions,
} from "../src/config/index.js";

const dir = mkdtempSync(join(tmpdir(), "fleetca-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function yamlFile(text: string): string {
  const file = join(dir, `config-${++fileCount}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** No default file, no process environment: only what the test gives. */
function load(opts: LoadOptions = {}) {
  return loadSettings({ file: null, env: {}, cwd: dir, ...opts });
}

/** The problems of a load expected to fail. */
function problems(opts: LoadOptions): readonly string[] {
  try {
    load(opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    for (const p of err.problems) assert.ok(err.message.includes(p), "message lists every problem");
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

/** Exactly one problem, containing every fragment. */
function oneProblem(opts: LoadOptions, ...fragments: string[]): string {
  const list = problems(opts);
  assert.equal(list.length, 1, list.join("\n"));
  const [problem = ""] = list;
  for (const f of fragments) assert.ok(problem.includes(f), `${JSON.stringify(problem)} should include ${JSON.stringify(f)}`);
  return problem;
}

describe("defaults", () => {
  it("match Puppet's where Puppet has them", () => {
    const s = load();
    const certname = hostname().toLowerCase();
    assert.equal(s.certname, certname);
    assert.equal(s.caName, `Puppet CA: ${certname}`);
    assert.equal(s.caTtl, 157680000);
    assert.equal(s.keylength, 4096);
    assert.equal(s.keyType, "rsa");
    assert.equal(s.curve, "P-256");
    assert.equal(s.autosign, false);
    assert.equal(s.autosignTimeout, 30);
    assert.equal(s.bind, "0.0.0.0");
    assert.equal(s.port, 8140);
    assert.equal(s.caPort, 8140);
    assert.equal(s.server, "puppet");
    assert.equal(s.caServer, "puppet");
    assert.equal(s.store, "file:");
    assert.equal(s.maxCsrBytes, 65536);
    assert.equal(s.waitforcert, 120);
    assert.equal(s.maxwaitforcert, 0);
    assert.equal(s.hostcertRenewalInterval, 30 * 86400);
    assert.equal(s.caRefreshInterval, 86400);
    assert.equal(s.crlRefreshInterval, 86400);
    assert.deepEqual(s.dnsAltNames, []);
    assert.deepEqual(s.authRules, []);
    assert.deepEqual({ ...s }, { ...DEFAULTS });
  });

  it("a missing default file is not an error, a missing named file is", { skip: existsSync(DEFAULT_CONFIG_FILE) }, () => {
    assert.equal(loadSettings({ env: {}, cwd: dir }).port, 8140);
    oneProblem({ file: join(dir, "nope.yaml") }, "nope.yaml", "does not exist");
    oneProblem({ file: undefined, env: { FLEETCA_CONFIG: join(dir, "gone.yaml") } }, "gone.yaml", "FLEETCA_CONFIG", "does not exist");
  });

  it("FLEETCA_CONFIG names the file when none is passed", () => {
    const file = yamlFile("port: 8141\n");
    assert.equal(loadSettings({ env: { FLEETCA_CONFIG: file } }).port, 8141);
  });
});

describe("precedence: flags > env > file > caller defaults > built-in", () => {
  const file = yamlFile("port: 1001\nlog_level: debug\ncadir: ca\n");
  const env = { FLEETCA_PORT: "1002", FLEETCA_LOG_LEVEL: "warn" };

  it("takes each setting from the strongest layer that sets it", () => {
    assert.equal(load({ defaults: { port: 1000 } }).port, 1000);
    assert.equal(load({ defaults: { port: 1000 }, file }).port, 1001);
    assert.equal(load({ defaults: { port: 1000 }, file, env }).port, 1002);
    const all = load({ defaults: { port: 1000 }, file, env, flags: { port: 1003 } });
    assert.equal(all.port, 1003);
    assert.equal(all.logLevel, "warn");
    assert.equal(all.cadir, join(dir, "ca"), "file paths are relative to the file");
  });

  it("accepts flags in camelCase, snake_case and kebab-case, ignoring undefined ones", () => {
    const s = load({ flags: { caTtl: "2d", dns_alt_names: "puppet, DNS:ca.example.com,", "key-type": "EC", port: undefined } });
    assert.equal(s.caTtl, 2 * 86400);
    assert.deepEqual(s.dnsAltNames, ["puppet", "DNS:ca.example.com"]);
    assert.equal(s.keyType, "ec");
    assert.equal(s.port, 8140);
    oneProblem({ flags: { caTtl: "1d", ca_ttl: "2d" } }, "ca_ttl", "given twice");
    assert.equal(settingKeyOf("ca-ttl"), "caTtl");
    assert.equal(settingKeyOf("named_curve"), "curve");
    assert.equal(settingKeyOf("all"), undefined);
  });

  it("resolves relative paths from flags, env and defaults against cwd", () => {
    const s = load({ defaults: { cadir: "data/ca" }, env: { FLEETCA_SSLDIR: "ssl" }, flags: { autosign: "autosign.conf" } });
    assert.equal(s.cadir, join(dir, "data/ca"));
    assert.equal(s.ssldir, join(dir, "ssl"));
    assert.equal(s.autosign, join(dir, "autosign.conf"));
  });

  it("derives ca_name, ca_server and ca_port unless they are set", () => {
    const s = load({ flags: { certname: "ca.example.com", server: "primary.example.com", port: 9140 } });
    assert.equal(s.caName, "Puppet CA: ca.example.com");
    assert.equal(s.caServer, "primary.example.com");
    assert.equal(s.caPort, 9140);
    const t = load({ file: yamlFile("ca_name: Example Root\nca_server: ca.example.com\nca_port: 8141\n"), flags: { server: "x" } });
    assert.equal(t.caName, "Example Root");
    assert.equal(t.caServer, "ca.example.com");
    assert.equal(t.caPort, 8141);
  });

  it("ignores empty environment variables and reads structured ones as YAML/JSON", () => {
    const s = load({
      env: {
        FLEETCA_PORT: "",
        FLEETCA_AUTOSIGN: "TRUE",
        FLEETCA_AUTH_RULES: '[{"path":"/puppet-ca/v1/expirations","methods":["get"],"allow":"any"}]',
      },
    });
    assert.equal(s.port, 8140);
    assert.equal(s.autosign, true);
    assert.deepEqual(s.authRules, [{ path: "/puppet-ca/v1/expirations", methods: ["GET"], allow: "any" }]);
  });
});

describe("bad values: one message each, naming setting, value, expectation and source", () => {
  it("reports the file path and line", () => {
    const file = yamlFile("# comment\nport: 8140\nkeylength: 1024\n");
    oneProblem({ file }, "keylength", "1024", "expected an integer from 2048", `config file ${file} line 3`);
  });

  it("reports the environment variable", () => {
    oneProblem({ env: { FLEETCA_ALLOW_DUPLICATE_CERTS: "maybe" } }, "allow_duplicate_certs", '"maybe"', "true or false", "environment variable FLEETCA_ALLOW_DUPLICATE_CERTS");
  });

  it("reports the flag", () => {
    oneProblem({ flags: { caTtl: "5 years" } }, "ca_ttl", '"5 years"', "a duration", "flag --ca-ttl");
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ["port", { port: 0 }, "from 1 to 65535"],
    ["port", { port: "http" }, "from 1 to 65535"],
    ["ca_ttl", { caTtl: 0 }, "greater than 0"],
    ["waitforcert", { waitforcert: "-1" }, "a duration"],
    ["autosign_timeout", { autosignTimeout: "1d12h" }, "a duration"],
    ["key_type", { keyType: "dsa" }, '"rsa", "ec"'],
    ["curve", { curve: "secp521r1" }, "prime256v1"],
    ["log_level", { logLevel: "verbose" }, '"fatal", "error"'],
    ["certname", { certname: "Node.Example.com" }, "lower case"],
    ["certname", { certname: "a b" }, "without spaces"],
    ["cadir", { cadir: 42 }, "a directory path"],
    ["autosign", { autosign: 3 }, "allow-list file"],
    ["store", { store: "mysql://db/ca" }, "postgres://"],
    ["bind", { bind: "not a host" }, "host name or IP"],
    ["admin_allow_list", { adminAllowList: ["ok", 7] }, "item 2 is not a string"],
    ["max_csr_bytes", { maxCsrBytes: 10 }, "from 1024"],
    ["auth_rules", { authRules: [{ path: "x", methods: ["GET"], allow: "any" }] }, "starting with /"],
    ["auth_rules", { authRules: [{ path: "/x", methods: ["FETCH"], allow: "any" }] }, '"FETCH"'],
    ["auth_rules", { authRules: [{ path: "/x", methods: ["GET"], allow: "everyone" }] }, "allow must be one of"],
    ["auth_rules", { authRules: "deny all" }, "a list of rules"],
  ];
  for (const [name, flags, expected] of cases) {
    it(`${name} = ${JSON.stringify(Object.values(flags)[0])}`, () => {
      oneProblem({ flags }, `${name}: invalid value`, expected, "flag --");
    });
  }

  it("collects every problem from every layer before failing", () => {
    const file = yamlFile("port: 0\nautosgin: true\n");
    const list = problems({ file, env: { FLEETCA_KEYLENGTH: "big" }, flags: { curve: "x", bogus: 1 } });
    assert.equal(list.length, 5, list.join("\n"));
    assert.match(list[0] ?? "", /^port: .* line 1/);
    assert.match(list[1] ?? "", /autosgin.*line 2/);
    assert.match(list[2] ?? "", /FLEETCA_KEYLENGTH/);
  });

  it("reports invalid YAML and a file that is not a mapping", () => {
    oneProblem({ file: yamlFile("port: [1,\n") }, "is not valid YAML");
    oneProblem({ file: yamlFile("- port\n") }, "must be a mapping");
    assert.equal(load({ file: yamlFile("# only a comment\n") }).port, 8140);
  });
});

describe("unknown keys", () => {
  it("suggests the closest setting name", () => {
    oneProblem({ file: yamlFile("autosgin: true\n") }, 'unknown setting "autosgin"', 'did you mean "autosign"?', "line 1");
    oneProblem({ file: yamlFile("allow-subject-alt-names: true\n") }, 'did you mean "allow_subject_alt_names"?');
    oneProblem({ file: yamlFile("caTtl: 5y\n") }, 'did you mean "ca_ttl"?');
    oneProblem({ file: yamlFile("keylenght: 2048\n") }, 'did you mean "keylength"?');
    const far = oneProblem({ file: yamlFile("frobnicate: 1\n") }, 'unknown setting "frobnicate"');
    assert.ok(!far.includes("did you mean"));
    oneProblem({ flags: { dnsAltName: "x" } }, 'unknown setting flag "dnsAltName"', "did you mean");
  });

  it("accepts Puppet's named_curve as curve, but not both at once", () => {
    assert.equal(load({ file: yamlFile("named_curve: secp384r1\n") }).curve, "P-384");
    oneProblem({ file: yamlFile("named_curve: secp384r1\ncurve: P-256\n") }, "given twice");
  });
});

describe("YAML 1.1 like Ruby's Psych", () => {
  it("reads yes/no/on/off as booleans", () => {
    const s = load({ file: yamlFile("autosign: yes\nallow_duplicate_certs: on\nallow_subject_alt_names: no\n") });
    assert.equal(s.autosign, true);
    assert.equal(s.allowDuplicateCerts, true);
    assert.equal(s.allowSubjectAltNames, false);
  });

  it("explains an unquoted yes/no where a string was wanted", () => {
    oneProblem({ file: yamlFile("server: no\n") }, "server", "invalid value false", "quote it");
  });

  it("turns the strings true/false into booleans for autosign, keeps other strings as paths", () => {
    assert.equal(load({ file: yamlFile('autosign: "false"\n') }).autosign, false);
    const file = yamlFile("autosign: autosign.conf\n");
    assert.equal(load({ file }).autosign, join(dir, "autosign.conf"));
  });
});

describe("durations", () => {
  it("parses Puppet's syntax", () => {
    assert.equal(parseDuration(3600), 3600);
    assert.equal(parseDuration("3600"), 3600);
    assert.equal(parseDuration("5y"), 157680000);
    assert.equal(parseDuration("30d"), 2592000);
    assert.equal(parseDuration("12h"), 43200);
    assert.equal(parseDuration("15m"), 900);
    assert.equal(parseDuration("60s"), 60);
    assert.equal(parseDuration(" 0 "), 0);
  });

  it("rejects anything else", () => {
    for (const bad of ["", "1.5h", "-1", "1d12h", "5Y", "5 y", "y", "1w", 1.5, -3, Number.NaN]) {
      assert.equal(tryParseDuration(bad), undefined, JSON.stringify(bad));
      assert.throws(() => parseDuration(bad), RangeError);
    }
    assert.throws(() => parseDuration("9".repeat(30)), RangeError);
  });

  it("formats with the largest exact unit and maps maxwaitforcert unlimited to 0", () => {
    assert.equal(formatDuration(157680000), "5y");
    assert.equal(formatDuration(90), "90s");
    assert.equal(formatDuration(7200), "2h");
    assert.equal(load({ env: { FLEETCA_MAXWAITFORCERT: "unlimited" } }).maxwaitforcert, 0);
    assert.equal(load({ file: yamlFile("waitforcert: 0\nmaxwaitforcert: 1h\n") }).maxwaitforcert, 3600);
  });
});

describe("result", () => {
  it("is deeply frozen", () => {
    const s = load({ flags: { dnsAltNames: ["a"], authRules: [{ path: "/x", methods: "get", allow: "admin" }] } });
    assert.ok(Object.isFrozen(s));
    assert.ok(Object.isFrozen(s.dnsAltNames));
    assert.ok(Object.isFrozen(s.authRules));
    assert.ok(Object.isFrozen(s.authRules[0]));
    assert.ok(Object.isFrozen(s.authRules[0]?.methods));
    assert.throws(() => {
      (s as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => (s.dnsAltNames as string[]).push("b"), TypeError);
    assert.ok(Object.isFrozen(DEFAULTS));
  });

  it("normalizes curve names", () => {
    assert.equal(load({ flags: { curve: "prime256v1" } }).curve, "P-256");
    assert.equal(load({ flags: { curve: "p-384" } }).curve, "P-384");
    assert.equal(load({ flags: { curve: "secp384r1" } }).curve, "P-384");
  });

  it("summarizes with sources and a masked database password", () => {
    const text = settingsSummary(load({ env: { FLEETCA_STORE: "postgres://ca:s3cret@db.example.com/fleetca" }, flags: { port: 8141 } }));
    assert.match(text, /^port: 8141 {2}# flag --port$/m);
    assert.match(text, /^store: "postgres:\/\/ca:\*\*\*@db.example.com\/fleetca" {2}# environment variable FLEETCA_STORE$/m);
    assert.match(text, /^ca_ttl: 157680000 {2}# 5y; default$/m);
    assert.match(text, /^ca_name: .*# default, follows certname$/m);
    assert.ok(!text.includes("s3cret"));
  });
});
