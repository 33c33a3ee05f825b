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

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const END = /-----END ([A-Z0-9 ]+)-----/g;

/**
 * Where each "-----END <label>-----" starts, by label, ascending. Found in one pass so that a
 * BEGIN without its END costs a lookup, not a scan of the rest of the text: a request body
 * of unterminated BEGIN lines (anyone may send one) took seconds with a backreference regex.
 */
function endsByLabel(text: string): Map<string, number[]> {
  const ends = new Map<string, number[]>();
  END.lastIndex = 0;
  for (let m = END.exec(text); m; m = END.exec(text)) {
    const at = ends.get(m[1]!) ?? [];
    at.push(m.index);
    ends.set(m[1]!, at);
    END.lastIndex = m.index + 1;
  }
  return ends;
}

/** All PEM blocks in a text, in order. Garbage between blocks is ignored, as OpenSSL does. */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  const ends = endsByLabel(text);
  const cursor = new Map<string, number>();
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(text); m; m = BEGIN.exec(text)) {
    const label = m[1]!;
    const bodyStart = m.index + m[0].length;
    const at = ends.get(label) ?? [];
    // BEGINs are visited in order, so each label's next END only moves forward.
    let i = cursor.get(label) ?? 0;
    while (i < at.length && at[i]! < bodyStart) i++;
    cursor.set(label, i);
    if (i === at.length) {
      BEGIN.lastIndex = m.index + 1;
      continue;
    }
    const body = text.slice(bodyStart, at[i]).replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new PemError(`the ${label} PEM block has characters that are not base64`);
    out.push({ label, der: Buffer.from(body, "base64") });
    BEGIN.lastIndex = at[i]! + `-----END ${label}-----`.length;
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
