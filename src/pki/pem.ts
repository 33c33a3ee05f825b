/** PEM at the edges: files and HTTP bodies. Inside, fleetca works on DER. */

export class PemError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PemError";
  }
}

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.length).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export interface PemBlock {
  label: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** All PEM blocks in a text, in order. Garbage between blocks is ignored, as OpenSSL does. */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = m[2]!.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new PemError(`the ${m[1]} PEM block has characters that are not base64`);
    out.push({ label: m[1]!, der: Buffer.from(body, "base64") });
  }
  return out;
}

/** The first block with one of the labels; a PemError naming what was expected otherwise. */
export function fromPem(text: string, labels: string[], what: string): Buffer {
  const blocks = pemBlocks(text);
  const hit = blocks.find((b) => labels.includes(b.label));
  if (hit) return hit.der;
  if (blocks.length > 0) {
    throw new PemError(`expected a PEM ${what} (BEGIN ${labels[0]}), found BEGIN ${blocks[0]!.label}`);
  }
  throw new PemError(`expected a PEM ${what} (-----BEGIN ${labels[0]}-----), found no PEM block`);
}
