/** Where the bench keeps its results and its scratch files. */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT = resolve(BENCH_DIR, "..");
export const RESULTS_DIR = join(BENCH_DIR, "results");
/** Gitignored: cached agent keys, CA directories, CSR files. Safe to delete. */
export const TMP_DIR = join(RESULTS_DIR, "tmp");
/**
 * The built CLI (`npm run bench` builds first), run as an operator would; FLEETCA_BENCH_BIN
 * names another build (a copy kept aside while the tree changes under a long run).
 */
export const FLEETCA_BIN = process.env.FLEETCA_BENCH_BIN ? resolve(process.env.FLEETCA_BENCH_BIN) : join(ROOT, "bin", "fleetca.js");
