/** "Did you mean" for unknown names: the closest candidate by edit distance, when it is close enough to help. */

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions ("autosgin" is 1 from "autosign"). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(rows - 1, cols - 1);
}

/** camelCase and kebab-case to snake_case, lower case: "caTtl" and "ca-ttl" both give "ca_ttl". */
export function toSnake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/-/g, "_")
    .toLowerCase();
}

/**
 * The candidate closest to `name`, or undefined when none is plausibly meant. A different spelling of the same
 * words (camelCase, kebab-case, upper case) always matches; otherwise the distance must be at most a third of the
 * name's length (and at least 2 is always allowed).
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const wantedName = toSnake(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(wantedName, toSnake(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = Math.max(2, Math.floor(wantedName.length / 3));
  return bestDistance <= limit ? best : undefined;
}

/** `; did you mean "x"?` or the empty string. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const hit = closest(name, candidates);
  return hit === undefined ? "" : `; did you mean ${JSON.stringify(hit)}?`;
}
