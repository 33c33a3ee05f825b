/**
 * A seeded random source and the mutations the fuzzer applies: the same seed gives the same
 * cases on every machine, so a finding is replayed with its seed and case number.
 */

/** mulberry32: small, fast, and good enough to pick mutations. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** Bytes that break parsers more often than random ones: DER length forms, tags, NUL, high bit. */
const INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x17, 0x18, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x88, 0xa0, 0xa3, 0xff];

/** One to a few byte-level mutations of `input`. */
export function mutateBytes(r: Random, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + r.int(r.chance(0.2) ? 8 : 3);
  for (let i = 0; i < rounds; i++) {
    const at = b.length === 0 ? 0 : r.int(b.length);
    switch (r.int(9)) {
      case 0: // flip a bit
        if (b.length > 0) b[at]! ^= 1 << r.int(8);
        break;
      case 1: // an interesting byte
        if (b.length > 0) b[at] = r.pick(INTERESTING);
        break;
      case 2: // insert bytes
        b = Buffer.concat([b.subarray(0, at), r.chance(0.5) ? Buffer.from([r.pick(INTERESTING)]) : r.bytes(1 + r.int(16)), b.subarray(at)]);
        break;
      case 3: // delete a run
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(32)))]);
        break;
      case 4: // truncate
        b = b.subarray(0, at);
        break;
      case 5: // duplicate a run
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + 1 + r.int(64)), b.subarray(at)]);
        break;
      case 6: // a length byte made long-form or huge (DER lengths follow a tag)
        if (b.length > 1) b = Buffer.concat([b.subarray(0, at), Buffer.from([r.pick([0x80, 0x81, 0x84, 0x89, 0xff]), ...r.bytes(r.int(5))]), b.subarray(at + 1)]);
        break;
      case 7: // swap two runs
        if (b.length > 8) {
          const other = r.int(b.length);
          const len = 1 + r.int(Math.min(16, b.length - Math.max(at, other)));
          const x = Buffer.from(b.subarray(at, at + len));
          b.subarray(other, other + len).copy(b, at);
          x.copy(b, other);
        }
        break;
      default: // random bytes over a run
        r.bytes(1 + r.int(8)).copy(b, at);
        break;
    }
  }
  return b;
}

/** Text mutations: the byte ones plus long runs, NULs, non-ASCII, CR/LF, and cut lines. */
export function mutateText(r: Random, input: string): string {
  switch (r.int(6)) {
    case 0:
      return mutateBytes(r, Buffer.from(input, "utf8")).toString("latin1");
    case 1: {
      const at = r.int(input.length + 1);
      const junk = r.pick(["\0", "\r\n", "\n\n", "é", "\u202e", "\ud800", "-----", "=", "%00", " ".repeat(1 + r.int(100)), "A".repeat(1 + r.int(5000))]);
      return input.slice(0, at) + junk + input.slice(at);
    }
    case 2: {
      const lines = input.split("\n");
      lines.splice(r.int(lines.length), 1 + r.int(3));
      return lines.join("\n");
    }
    case 3:
      return input.slice(0, r.int(input.length + 1));
    case 4:
      return input.repeat(2 + r.int(3));
    default:
      return mutateBytes(r, Buffer.from(input, "utf8")).toString("utf8");
  }
}

/** Values of every JSON type, odd ones included, for a key of a JSON body. */
export function oddValue(r: Random, depth = 0): unknown {
  switch (r.int(depth > 2 ? 10 : 13)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53, 2 ** 64, Number.MAX_SAFE_INTEGER]);
    case 3: return "";
    case 4: return "x".repeat(r.int(400));
    case 5: return r.pick(["signed", "revoked", "requested", "ca", "node.test", "../../etc/passwd", "a b", "UPPER.test", "é.test", "\0", "true", "1"]);
    case 6: return r.bytes(1 + r.int(20)).toString("latin1");
    case 7: return [];
    case 8: return {};
    case 9: return r.pick(["__proto__", "constructor", "toString"]);
    case 10: return Array.from({ length: r.int(5) }, () => oddValue(r, depth + 1));
    case 11: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(["a", "certnames", "desired_state", "__proto__", "cert_ttl", "dns_alt_names"]), oddValue(r, depth + 1)]));
    default: return nested(r.int(2000));
  }
}

/** An array nested `n` deep: the depth a recursive walk could choke on. */
function nested(n: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

/** A JSON body derived from `seed`: values replaced, keys added or removed, or the text itself mutated. */
export function mutateJson(r: Random, seed: Record<string, unknown>): string {
  const obj: Record<string, unknown> = { ...seed };
  switch (r.int(5)) {
    case 0: {
      const keys = Object.keys(obj);
      if (keys.length > 0) obj[r.pick(keys)] = oddValue(r);
      return JSON.stringify(obj);
    }
    case 1:
      obj[r.pick(["extra", "__proto__", "desired_state", "certnames", "cert_ttl", "serial", "reason", "name"])] = oddValue(r);
      return JSON.stringify(obj);
    case 2:
      return JSON.stringify(oddValue(r));
    case 3:
      return mutateText(r, JSON.stringify(obj));
    default: {
      const keys = Object.keys(obj);
      if (keys.length > 0) delete obj[r.pick(keys)];
      return JSON.stringify(obj);
    }
  }
}

/** A path segment for :name: valid names, near-valid ones, and hostile ones. */
export function oddName(r: Random): string {
  switch (r.int(8)) {
    case 0: return r.pick(["node.test", "agent1.test", "ca", "admin.test", "x"]);
    case 1: return "a".repeat(1 + r.int(300));
    case 2: return `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(r.int(70))}`;
    case 3: return encodeURIComponent(r.bytes(1 + r.int(12)).toString("latin1"));
    case 4: return r.pick(["..", ".", "%2e%2e", "%2F", "a%00b", "A.TEST", "a..b", "-a", "a-", "node.test.", "*", "%", "%zz", "a b", "é"]);
    case 5: return `${r.pick(["node", "agent1"])}.test${r.pick(["", ".", "..", "/", "%2f", "?x=1", "#f", ";x"])}`;
    case 6: return mutateText(r, "node.test").replace(/[/?#]/g, "");
    default: return String(r.int(1_000_000));
  }
}
