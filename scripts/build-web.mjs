// Builds the console front end (web/) into dist/console/, which the server serves at
// /console: one minified ES module bundled by esbuild, the page and the stylesheet copied.
// Fails when the compressed script outgrows the console's budget (docs/console.md).
import console from "node:console";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "console");
const BUDGET = 100 * 1024;

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, "web", "src", "main.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(root, "web", "index.html"), join(out, "index.html"));
copyFileSync(join(root, "web", "app.css"), join(out, "app.css"));
const js = readFileSync(join(out, "app.js"));
const compressed = gzipSync(js, { level: 9 }).length;
if (compressed > BUDGET) {
  console.error(`build-web: app.js is ${compressed} bytes gzipped, over the console's budget of ${BUDGET}`);
  process.exit(1);
}
console.log(`build-web: dist/console/app.js ${js.length} bytes, ${compressed} gzipped (budget ${BUDGET})`);
