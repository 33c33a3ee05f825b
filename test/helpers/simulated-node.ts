/**
 * A simulated agent for the regeneration tests: its own key, a CSR through the Puppet CA API (autosign on),
 * its certificate back; and a node-only request made with that certificate.
 */
import assert from "node:assert/strict";
import { buildCsr, csrToPem } from "../../src/pki/csr.js";
import { generateKeyPair, privateKeyToPem } from "../../src/pki/keys.js";
import { httpsRequest as rawRequest, type RequestOptions } from "./https-client.js";

const CA = "/puppet-ca/v1";

export interface SimulatedNode {
  name: string;
  certPem: string;
  keyPem: string;
}

/** The test servers' certificate names "localhost" (their certname), and they listen on 127.0.0.1. */
export const httpsRequest = (url: string, o: RequestOptions) => rawRequest(url, { servername: "localhost", ...o });

export async function enrollSimulated(url: string, caPem: string, name: string, extensionRequests: { oid: string; value: string }[] = []): Promise<SimulatedNode> {
  const keys = await generateKeyPair({ type: "ec", curve: "P-256" });
  const csr = csrToPem(await buildCsr({ commonName: name, altNames: [], extensionRequests }, keys.privateKey, keys.publicKey));
  const put = await httpsRequest(`${url}${CA}/certificate_request/${name}`, { method: "PUT", body: csr, headers: { "content-type": "text/plain" }, ca: caPem });
  assert.equal(put.status, 200, put.body);
  const got = await httpsRequest(`${url}${CA}/certificate/${name}`, { ca: caPem });
  assert.equal(got.status, 200, got.body);
  return { name, certPem: got.body, keyPem: privateKeyToPem(keys.privateKey) };
}

/** A node-only endpoint with the node's certificate: 200 for a valid node of the server's CA. */
export const asNode = (url: string, caPem: string, n: SimulatedNode) => httpsRequest(`${url}${CA}/expirations`, { ca: caPem, cert: n });
