/**
 * Connection bounds on a real socket (server/connections.ts): a TLS handshake never begun, a
 * connection idle after its handshake, a kept-alive connection idle after a request, headers
 * and a body trickled a byte at a time, too many connections (per address and in all), and a
 * body over the limit. Each bound is set to a second or two here; the tests wait for the
 * server to close the connection (bounded by the test's own timeout) and report how long it
 * took, without asserting on it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { CertificateAuthority } from "../src/ca/authority.js";
import { Ssldir } from "../src/host/ssldir.js";
import { ensureCa, ensureServerIdentity } from "../src/server/identity.js";
import { listen, type RunningServer, type TlsMaterial } from "../src/server/listen.js";
import { FileStore } from "../src/store/file/index.js";
import { httpsRequest } from "./helpers/https-client.js";
import { tmpDir } from "./helpers/openssl.js";
import { makeCsr, memoryLogger, testSettings } from "./helpers/server-fixture.js";

const dir = tmpDir("fleetca-conn-");
const cadir = path.join(dir, "ca");
const base = { cadir, certname: "localhost", keyType: "ec", csrRate: 0 };
const { logs, log } = memoryLogger();
let ca: CertificateAuthority;
let store: FileStore;
let material: TlsMaterial;
/** Short phase timeouts, a long request timeout (so a header trickle can only end by headers_timeout). */
let phases: RunningServer;
/** A short request timeout, for trickled bodies. */
let whole: RunningServer;
/** Few connections: 3 per address, 5 in all. */
let few: RunningServer;

async function start(flags: Record<string, unknown>): Promise<RunningServer> {
  const settings = testSettings({ ...base, ...flags });
  return listen({ ca, settings, log }, material, { host: "127.0.0.1", port: 0 });
}

before(async () => {
  const settings = testSettings(base);
  store = new FileStore(cadir);
  await ensureCa(store, settings);
  ca = new CertificateAuthority({ store, settings });
  const id = await ensureServerIdentity(ca, settings, new Ssldir(path.join(dir, "ssl")), "testhost");
  material = { keyPem: id.keyPem, certPem: id.certPem, caPem: await ca.caCertificatePem() };
  phases = await start({ handshakeTimeout: 1, idleTimeout: 1, keepAliveTimeout: 1, headersTimeout: 1, requestTimeout: 600 });
  whole = await start({ idleTimeout: 1, headersTimeout: 1, requestTimeout: 2, maxCsrBytes: 2048 });
  few = await start({ maxConnections: 5, maxConnectionsPerAddress: 3 });
});

after(async () => {
  await Promise.all([phases, whole, few].map((s) => s?.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A TLS connection to `server`, from `localAddress`, once its handshake is done. */
function connectTls(server: RunningServer, localAddress = "127.0.0.1"): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const tcp = net.connect({ host: "127.0.0.1", port: server.port, localAddress });
    const s = tls.connect({ socket: tcp, ca: material.caPem, servername: "localhost" }, () => resolve(s));
    s.once("error", reject);
  });
}

/** What the server sent before closing, once it has closed; how long that took is a diagnostic. */
function untilClosed(socket: net.Socket): Promise<{ received: string; ms: number }> {
  const started = performance.now();
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
  socket.on("error", () => undefined);
  return new Promise((resolve) => socket.once("close", () => resolve({ received, ms: Math.round(performance.now() - started) })));
}

/** Writes `text` a byte every `everyMs` until the socket closes; resolves with how many bytes went. */
function trickle(socket: tls.TLSSocket, text: string, everyMs: number): Promise<number> {
  return new Promise((resolve) => {
    let i = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || i >= text.length) {
        clearInterval(timer);
        resolve(i);
        return;
      }
      socket.write(text[i++]!);
    }, everyMs);
    socket.once("close", () => {
      clearInterval(timer);
      resolve(i);
    });
  });
}

/** Tries a TLS handshake; "refused" when the server closes the connection before it completes. */
function tryConnect(server: RunningServer, localAddress: string): Promise<tls.TLSSocket | "refused"> {
  return connectTls(server, localAddress).catch(() => "refused" as const);
}

describe("every phase of a connection has a bound", { timeout: 60_000 }, () => {
  test("a TCP connection that never starts its TLS handshake is closed (handshake_timeout)", async (t) => {
    const socket = net.connect({ host: "127.0.0.1", port: phases.port });
    await new Promise((resolve) => socket.once("connect", resolve));
    const r = await untilClosed(socket);
    assert.equal(r.received, "", "nothing is sent to a client that never said hello");
    t.diagnostic(`closed after ${r.ms} ms (handshake_timeout 1 s)`);
  });

  test("a TLS connection idle after its handshake is closed (idle_timeout)", async (t) => {
    const socket = await connectTls(phases);
    const r = await untilClosed(socket);
    assert.equal(r.received, "");
    t.diagnostic(`closed after ${r.ms} ms (idle_timeout 1 s)`);
  });

  test("a kept-alive connection idle after an answer is closed (keep_alive_timeout)", async (t) => {
    const socket = await connectTls(phases);
    const closed = untilClosed(socket);
    socket.write("GET /status/v1/simple HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const r = await closed;
    assert.match(r.received, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(r.received, /\r\nKeep-Alive: timeout=1\r\n/i, "the client is told how long the server keeps it");
    assert.ok(r.received.endsWith("running"), "the answer arrived whole before the close");
    t.diagnostic(`closed after ${r.ms} ms (keep_alive_timeout 1 s)`);
  });

  test("headers trickled a byte at a time are cut off with a 408 (headers_timeout), though request_timeout is 10 minutes", async (t) => {
    const socket = await connectTls(phases);
    const closed = untilClosed(socket);
    const headers = `GET /status/v1/simple HTTP/1.1\r\nHost: localhost\r\nX-Slow: ${"a".repeat(400)}\r\n\r\n`;
    const sent = await trickle(socket, headers, 100);
    const r = await closed;
    assert.ok(sent < headers.length, `the server closed before the headers were done (${sent} of ${headers.length} bytes)`);
    assert.match(r.received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    t.diagnostic(`closed after ${r.ms} ms and ${sent} bytes (headers_timeout 1 s)`);
  });

  test("a body trickled a byte at a time is cut off with a 408 (request_timeout); nothing is stored", async (t) => {
    const { csrPem } = await makeCsr("trickle.test");
    const socket = await connectTls(whole);
    const closed = untilClosed(socket);
    socket.write(`PUT /puppet-ca/v1/certificate_request/trickle.test HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: ${csrPem.length}\r\n\r\n`);
    // Faster than idle_timeout (1 s): only the request's own deadline can end it.
    const sent = await trickle(socket, csrPem, 100);
    const r = await closed;
    assert.ok(sent < csrPem.length, `the server closed before the body was done (${sent} of ${csrPem.length} bytes)`);
    assert.match(r.received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.equal(await store.getRequest("trickle.test"), undefined);
    t.diagnostic(`closed after ${r.ms} ms and ${sent} bytes (request_timeout 2 s)`);
  });

  test("a body over max_csr_bytes gets a 413 with the reason, whether its length is declared or streamed", async () => {
    const big = `-----BEGIN CERTIFICATE REQUEST-----\n${"A".repeat(4096)}\n-----END CERTIFICATE REQUEST-----\n`;
    const url = `${whole.url}/puppet-ca/v1/certificate_request/big.test`;
    const declared = await httpsRequest(url, { method: "PUT", body: big, headers: { "content-type": "text/plain" }, ca: material.caPem, servername: "localhost" });
    assert.equal(declared.status, 413);
    assert.equal(declared.body, "The certificate request is larger than 2048 bytes (the max_csr_bytes setting); nothing was stored. A PEM CSR is a few kilobytes.");
    // Chunked: no Content-Length to refuse up front; the server stops reading at the limit.
    const socket = await connectTls(whole);
    const closed = untilClosed(socket);
    socket.write("PUT /puppet-ca/v1/certificate_request/big.test HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for (let i = 0; i < 8 && !socket.destroyed; i++) socket.write(`400\r\n${"A".repeat(1024)}\r\n`);
    if (!socket.destroyed) socket.end("0\r\n\r\n");
    const r = await closed;
    assert.match(r.received, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
    assert.ok(r.received.endsWith("(the max_csr_bytes setting); nothing was stored. A PEM CSR is a few kilobytes."), r.received);
    assert.equal(await store.getRequest("big.test"), undefined);
  });
});

describe("the number of connections has a bound", { timeout: 60_000 }, () => {
  test("past max_connections_per_address one address is refused, another is not; past max_connections everyone is", async () => {
    logs.length = 0;
    const held: tls.TLSSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await connectTls(few, "127.0.0.1"));
      assert.equal(await tryConnect(few, "127.0.0.1"), "refused", "a fourth connection from 127.0.0.1");
      const other = await tryConnect(few, "127.0.0.2");
      assert.notEqual(other, "refused", "127.0.0.2 has its own count");
      held.push(other as tls.TLSSocket);
      held.push(await connectTls(few, "127.0.0.3"));
      // Five open in all: max_connections.
      assert.equal(await tryConnect(few, "127.0.0.4"), "refused", "a sixth connection from a fresh address");
      // A closed connection frees its place.
      const first = held.shift()!;
      await new Promise<void>((resolve) => {
        first.once("close", () => resolve());
        first.destroy();
      });
      await new Promise((resolve) => setTimeout(resolve, 50)); // the server sees the close after the client does
      const again = await tryConnect(few, "127.0.0.1");
      assert.notEqual(again, "refused", "127.0.0.1 may connect again once one of its connections closed");
      held.push(again as tls.TLSSocket);
      // The held connections still serve requests.
      const s = held[0]!;
      const answer = new Promise<string>((resolve) => s.once("data", (d: Buffer) => resolve(d.toString())));
      s.write("GET /status/v1/simple HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.match(await answer, /^HTTP\/1\.1 200 OK/);
    } finally {
      for (const s of held) s.destroy();
    }
    const report = logs.find((l) => String(l.msg).startsWith("Refused connections since the last report"));
    assert.ok(report, "the refusal is logged");
    assert.match(String(report.msg), /over max_connections 5, .* over max_connections_per_address 3/);
  });
});
