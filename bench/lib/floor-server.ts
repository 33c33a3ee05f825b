/**
 * The HTTP floor of an enrollment: a bare node:https server (no fastify, no routing rules, no
 * logging, no CA work, nothing on disk) answering the four requests the load generator sends
 * per enrollment (lib/load.ts) with canned bodies: the CA certificate, the CRL, an empty 200
 * for the CSR (its body read and dropped) and one stored certificate for every name. Run
 * pinned as the real server is, its CPU per enrollment is what Node's TLS and HTTP/1.1 cost
 * here for Puppet's four requests, the part no change to fleetca can remove.
 */
import { startChildServer } from "./child-server.js";

const FLOOR_SERVER = `
const https = require("node:https");
const { key, cert, caPem, crlPem, certPem } = JSON.parse(process.env.FLOOR_BODIES);
const bodies = { ca: Buffer.from(caPem), crl: Buffer.from(crlPem), cert: Buffer.from(certPem), none: Buffer.alloc(0) };
const send = (res, status, body) => {
  res.writeHead(status, { "content-type": "text/plain", "content-length": body.length });
  res.end(body);
};
const server = https.createServer({ key, cert, keepAliveTimeout: 60000, requestCert: true, rejectUnauthorized: false }, (req, res) => {
  const url = req.url;
  req.on("data", () => {});
  req.on("end", () => {
    if (url === "/puppet-ca/v1/certificate/ca") send(res, 200, bodies.ca);
    else if (url === "/puppet-ca/v1/certificate_revocation_list/ca") send(res, 200, bodies.crl);
    else if (url.startsWith("/puppet-ca/v1/certificate_request/")) send(res, 200, bodies.none);
    else if (url.startsWith("/puppet-ca/v1/certificate/")) send(res, 200, bodies.cert);
    else send(res, 404, bodies.none);
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
`;

export interface FloorBodies {
  /** The TLS key and certificate the server presents (the real server's, so the handshake is the same). */
  key: string;
  cert: string;
  caPem: string;
  crlPem: string;
  /** Answered for every GET certificate/NAME. */
  certPem: string;
}

export interface FloorServer {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/** Starts the floor server in its own process, on `cpus` (taskset -c) like the real server. */
export async function startFloorServer(bodies: FloorBodies, cpus: string): Promise<FloorServer> {
  // taskset execs node in place, so the child's pid is the server's (for /proc).
  const env = { PATH: process.env.PATH ?? "", FLOOR_BODIES: JSON.stringify(bodies) };
  const s = await startChildServer("taskset", ["-c", cpus, process.execPath, "-e", FLOOR_SERVER], env, "the floor server");
  return { pid: s.pid, url: `https://127.0.0.1:${s.port}`, stop: s.stop };
}
