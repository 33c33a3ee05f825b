/** Every file and directory under a root, with its mode and SHA-256: to compare a directory byte for byte. */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    const st = fs.statSync(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      out[rel || "."] = `dir ${mode}`;
      for (const n of fs.readdirSync(abs).sort()) if (n !== ".fleetca.lock") walk(path.join(rel, n));
    } else {
      out[rel] = `file ${mode} ${createHash("sha256").update(fs.readFileSync(abs)).digest("hex")}`;
    }
  };
  walk("");
  return out;
}
