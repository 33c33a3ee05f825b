/**
 * The load generator's HTTP/1.1 client: one TLS socket per simulated agent slot, kept
 * alive across requests, with a request written as one string and a response parsed by
 * hand (Content-Length or chunked). Node's https client spends ~0.4 ms of CPU per request
 * on this machine; the load generator shares the two cores with the server it measures,
 * so every millisecond it spends is taken from the CA (bench/results says how much).
 */
import net from "node:net";
import tls from "node:tls";

export interface LeanResponse {
  status: number;
  body: string;
  ms: number;
}

/** A response whose body is kept as bytes (OCSP answers are DER). */
export interface LeanBytesResponse {
  status: number;
  bytes: Buffer;
  ms: number;
}

export interface LeanConnectionOptions {
  host: string;
  port: number;
  /** The CA certificate to verify the server against; undefined means no verification. */
  caPem?: string;
  timeoutMs?: number;
  /** Plain HTTP instead of TLS (openssl's OCSP responder speaks only HTTP). */
  plain?: boolean;
  /** The source address (another 127.x.y.z: one simulated machine each). */
  localAddress?: string;
}

/** One keep-alive connection; requests on it are sequential, as a Puppet agent's are. */
export class LeanConnection {
  private socket: net.Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private pending: { resolve: (r: LeanBytesResponse) => void; reject: (e: Error) => void; t0: number; label: string } | undefined;
  /** TCP (and TLS) connections opened so far: 1 for a server that keeps them alive. */
  connections = 0;

  constructor(private readonly o: LeanConnectionOptions) {}

  async request(method: string, path: string, body?: string, contentType = "text/plain"): Promise<LeanResponse> {
    const r = await this.requestBytes(method, path, body === undefined ? undefined : Buffer.from(body), contentType);
    return { status: r.status, body: r.bytes.toString("utf8"), ms: r.ms };
  }

  /** The same request with a binary body and answer; the head and body go out in one write. */
  requestBytes(method: string, path: string, body?: Buffer, contentType = "text/plain", accept = "text/plain"): Promise<LeanBytesResponse> {
    if (this.pending) return Promise.reject(new Error("a request is already in flight on this connection"));
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: ${this.o.host}:${this.o.port}\r\nAccept: ${accept}\r\n` +
      (body !== undefined ? `Content-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n` : "") +
      "\r\n";
    return new Promise((resolve, reject) => {
      const label = `${method} ${path}`;
      this.pending = { resolve, reject, t0: performance.now(), label };
      const socket = this.connected();
      socket.write(body !== undefined ? Buffer.concat([Buffer.from(head, "latin1"), body]) : head);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connected(): net.Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    this.buf = Buffer.alloc(0);
    this.connections++;
    const tcp = () => net.connect({ host: this.o.host, port: this.o.port, localAddress: this.o.localAddress });
    const socket = this.o.plain
      ? tcp()
      : tls.connect({
          socket: tcp(),
          host: this.o.host,
          port: this.o.port,
          ca: this.o.caPem,
          rejectUnauthorized: this.o.caPem !== undefined,
          // The benchmark reaches the server as 127.0.0.1, whatever its certname.
          checkServerIdentity: () => undefined,
        });
    socket.setNoDelay(true);
    socket.setTimeout(this.o.timeoutMs ?? 60_000, () => socket.destroy(new Error(`no answer within ${this.o.timeoutMs ?? 60_000} ms`)));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    const fail = (e: Error) => {
      // A socket closed after its answer (Connection: close) must not fail the next request,
      // which is already on a new socket.
      if (this.socket !== socket) return;
      this.socket = undefined;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new Error(`${p.label}: ${e.message}`));
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("the server closed the connection")));
    this.socket = socket;
    return socket;
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let parsed: ParsedBytes | undefined;
    try {
      parsed = parseResponseBytes(this.buf);
    } catch (e) {
      this.socket?.destroy(e as Error);
      return;
    }
    if (!parsed || !this.pending) return;
    const p = this.pending;
    this.pending = undefined;
    this.buf = this.buf.subarray(parsed.consumed);
    if (parsed.close) this.close();
    p.resolve({ status: parsed.status, bytes: parsed.bytes, ms: performance.now() - p.t0 });
  }
}

interface Parsed {
  status: number;
  body: string;
  consumed: number;
  close: boolean;
}

interface ParsedBytes {
  status: number;
  bytes: Buffer;
  consumed: number;
  close: boolean;
}

/** A whole response at the start of `buf`, or undefined while more bytes are needed. */
export function parseResponse(buf: Buffer): Parsed | undefined {
  const r = parseResponseBytes(buf);
  return r && { status: r.status, body: r.bytes.toString("utf8"), consumed: r.consumed, close: r.close };
}

/**
 * The same, with the body as bytes (a view of `buf`). An HTTP/1.0 answer without
 * `Connection: keep-alive` closes the connection, as openssl's OCSP responder's does.
 */
export function parseResponseBytes(buf: Buffer): ParsedBytes | undefined {
  const headEnd = buf.indexOf("\r\n\r\n");
  if (headEnd < 0) return undefined;
  const lines = buf.toString("latin1", 0, headEnd).split("\r\n");
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? "");
  const status = Number(m?.[2]);
  if (!Number.isInteger(status)) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(lines[0])}`);
  let length: number | undefined;
  let chunked = false;
  let close = m?.[1] === "0";
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") length = Number(value);
    else if (name === "transfer-encoding") chunked = value.toLowerCase().includes("chunked");
    else if (name === "connection") close = value.toLowerCase() === "close" || (close && value.toLowerCase() !== "keep-alive");
  }
  const start = headEnd + 4;
  if (chunked) return parseChunked(buf, start, status, close);
  const size = length ?? 0;
  if (buf.length < start + size) return undefined;
  return { status, bytes: buf.subarray(start, start + size), consumed: start + size, close };
}

function parseChunked(buf: Buffer, start: number, status: number, close: boolean): ParsedBytes | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const eol = buf.indexOf("\r\n", at);
    if (eol < 0) return undefined;
    const size = Number.parseInt(buf.toString("latin1", at, eol).split(";")[0]!, 16);
    if (!Number.isInteger(size)) throw new Error("bad chunk size in a chunked response");
    if (size === 0) {
      // No trailers are expected from a CA; the final CRLF ends the message.
      const end = buf.indexOf("\r\n", eol + 2);
      if (end < 0) return undefined;
      return { status, bytes: Buffer.concat(parts), consumed: end + 2, close };
    }
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}
