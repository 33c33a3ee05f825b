/** The key settings (key_type, keylength, curve) as one key description: every key fleetca makes follows them. */
import type { KeySpec } from "../pki/keys.js";
import type { Settings } from "./schema.js";

export const keySpecOf = (s: Pick<Settings, "keyType" | "keylength" | "curve">): KeySpec =>
  s.keyType === "ec" ? { type: "ec", curve: s.curve } : { type: "rsa", bits: s.keylength };
