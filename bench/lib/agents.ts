/**
 * Pre-generated agent identities (key + CSR), so the load generator measures the CA and
 * not the client's key generation. They are cached under bench/results/tmp/ (gitignored):
 * an RSA-2048 key costs ~0.15-0.5 s here, 2,000 of them several minutes, so they are made
 * once and reused by every run with the same key type and name prefix.
 *
 * EC P-256 is the default because it is ~1000x cheaper to generate; Puppet agents use
 * RSA-2048, which only changes the CA's CSR verification cost (an RSA-2048 verify is
 * cheaper than a P-256 one), so P-256 agents are, if anything, the harder case for the CA.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { buildCsr, csrToPem } from "../../src/pki/csr.js";
import { generateKeyPair, privateKeyToPem, spkiDer } from "../../src/pki/keys.js";
import { TMP_DIR } from "./paths.js";

export type AgentKeyType = "ec" | "rsa";

export interface AgentIdentity {
  name: string;
  csrPem: string;
  /** The agent's SubjectPublicKeyInfo (base64 DER), to check the certificate carries it. */
  spki: string;
  keyPem: string;
}

/** Certnames are `<prefix>-<i>.bench.test`, zero-padded so they sort like they were made. */
export function agentName(prefix: string, i: number): string {
  return `${prefix}-${String(i).padStart(6, "0")}.bench.test`;
}

function cacheFile(keyType: AgentKeyType, prefix: string): string {
  return join(TMP_DIR, `agents-${keyType}-${prefix}.json`);
}

/** Returns n identities, generating (and caching) only those missing from the cache. */
export async function agentIdentities(n: number, keyType: AgentKeyType = "ec", prefix = "agent"): Promise<AgentIdentity[]> {
  mkdirSync(TMP_DIR, { recursive: true });
  const file = cacheFile(keyType, prefix);
  const cached: AgentIdentity[] = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as AgentIdentity[]) : [];
  if (cached.length >= n) return cached.slice(0, n);
  const out = [...cached];
  // Key generation runs on the libuv pool: a few in flight keep both cores busy.
  let next = out.length;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await makeIdentity(agentName(prefix, i), keyType);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(out));
  renameSync(tmp, file);
  return out;
}

export async function makeIdentity(name: string, keyType: AgentKeyType): Promise<AgentIdentity> {
  const keys = await generateKeyPair(keyType === "ec" ? { type: "ec", curve: "P-256" } : { type: "rsa", bits: 2048 });
  const csr = await buildCsr({ commonName: name }, keys.privateKey, keys.publicKey);
  return {
    name,
    csrPem: csrToPem(csr),
    spki: spkiDer(keys.publicKey).toString("base64"),
    keyPem: privateKeyToPem(keys.privateKey),
  };
}
