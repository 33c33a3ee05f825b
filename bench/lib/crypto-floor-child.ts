/**
 * Node's own crypto for one enrollment, timed on the core it is pinned to (crypto-floor.ts):
 *   node --import tsx bench/lib/crypto-floor-child.ts CA_KEY.pem AGENTS.json N
 * fleetca's own functions, each CSR a distinct one (so its public key is built, not found in
 * publicKeyFromSpki's cache): the CSR's key built from its SubjectPublicKeyInfo, its signature
 * verified, and one signature by the CA key over a certificate-sized TBS. Prints JSON, us each.
 */
import { sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseCsrPem, verifyCsrSignature } from "../../src/pki/csr.js";
import { loadPrivateKey, publicKeyFromSpki, signatureSchemeFor } from "../../src/pki/keys.js";

const [keyFile, agentsFile, nArg] = process.argv.slice(2);
const caKey = loadPrivateKey(readFileSync(keyFile!, "utf8"), "CA key");
const agents = JSON.parse(readFileSync(agentsFile!, "utf8")) as { csrPem: string }[];
const csrs = agents.slice(0, Number(nArg)).map((a) => parseCsrPem(a.csrPem));
const tbs = Buffer.alloc(600, 0x5a);
const { hash } = signatureSchemeFor(caKey);
// CPU time, not wall time: another process on the core would otherwise be counted as ours.
const time = (f: (i: number) => void, count: number): number => {
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) f(i);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / count;
};
// Warm both paths (V8 and OpenSSL's caches), on CSRs the timed part does not reuse.
const half = Math.floor(csrs.length / 2);
for (let i = 0; i < Math.min(half, 200); i++) verifyCsrSignature(csrs[i]!);
const timed = csrs.slice(half);
// The key alone on the first half, key and verification together on the second (the cache of
// recent keys would otherwise serve the verification a key built in the first loop).
const q = Math.floor(timed.length / 2);
const keyUs = time((i) => publicKeyFromSpki(timed[i]!.spki), q);
const checkUs = time((i) => verifyCsrSignature(timed[q + i]!), timed.length - q);
const signs = caKey.asymmetricKeyType === "rsa" ? 60 : timed.length;
const signUs = time(() => sign(hash, tbs, caKey), signs);
console.log(JSON.stringify({ keyUs, verifyUs: checkUs - keyUs, signUs, csrs: timed.length, signs }));
