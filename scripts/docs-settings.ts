/** Writes docs/settings.md from src/config/schema.ts: `npm run docs:settings` (run it after changing a setting). */
import { writeFileSync } from "node:fs";
import { renderSettingsDoc, schemaSource } from "../src/cli/settings-doc.js";

const target = new URL("../docs/settings.md", import.meta.url);
writeFileSync(target, renderSettingsDoc(schemaSource()));
process.stdout.write(`wrote ${target.pathname}\n`);
