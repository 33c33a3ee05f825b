/**
 * The request log line written by logRequest (src/server/log.ts) is byte for byte what pino
 * writes for the same fields, whatever the strings hold, so `fleetca server | jq` and log
 * shippers see one format.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger, logRequest, type RequestFields } from "../src/server/log.js";

function capture(): { lines: string[]; sink: Writable } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, sink };
}

const withoutTime = (line: string) => line.replace(/"time":"[^"]*"/, '"time":"T"');

test("logRequest writes what log.info writes for the same request fields", () => {
  const { lines, sink } = capture();
  const log = createLogger("info", sink);
  const cases: RequestFields[] = [
    { method: "GET", path: "/puppet-ca/v1/certificate/ca", status: 200, ms: 0.4, client: "-" },
    { method: "PUT", path: "/puppet-ca/v1/certificate_request/node1.example.com", status: 400, ms: 12, client: "-", reason: 'Instance name "a\\"b" does not match requested key "x"\nline two \u00e9 \u2028' },
    { method: "GET", path: "/puppet-ca/v1/certificate_status/n%C3%A9", status: 403, ms: 1.5, client: "admin.example.com" },
  ];
  for (const f of cases) {
    logRequest(log, f);
    log.info({ msg: "request", ...f });
  }
  assert.equal(lines.length, cases.length * 2);
  for (let i = 0; i < cases.length; i++) {
    assert.equal(withoutTime(lines[2 * i]!), withoutTime(lines[2 * i + 1]!));
    assert.deepEqual({ ...JSON.parse(lines[2 * i]!), time: undefined, pid: undefined }, { level: 30, time: undefined, pid: undefined, msg: "request", ...cases[i] });
  }
});

test("no line below the info level", () => {
  const { lines, sink } = capture();
  logRequest(createLogger("warn", sink), { method: "GET", path: "/", status: 200, ms: 1, client: "-" });
  assert.deepEqual(lines, []);
});
