/**
 * "Did you mean": the nearest valid name to a misspelt one (an unknown key, step, param or D1 query),
 * by edit distance. Only a likely typo is suggested: a name far from every candidate gets nothing.
 */

/**
 * The optimal-string-alignment distance between two strings: insertions, deletions, substitutions
 * and swaps of two neighbours, each 1 (`requird` -> `required` is 1, `reqiured` -> `required` is 1).
 */
export function editDistance(a: string, b: string): number {
  // Three rows of the dynamic-programming table: before the previous, the previous and the current.
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      current[j] = best;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidate nearest to `name` (case ignored; the first of equals), when it is within a third of
 * the longer name's length (at least 1 edit): undefined for an exact match or nothing close.
 */
export function nearest(name: string, candidates: Iterable<string>): string | undefined {
  const wanted = name.toLowerCase();
  let found: string | undefined;
  let foundDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === name) return undefined;
    const distance = editDistance(wanted, candidate.toLowerCase());
    const allowed = Math.max(1, Math.floor(Math.max(wanted.length, candidate.length) / 3));
    if (distance <= allowed && distance < foundDistance) {
      found = candidate;
      foundDistance = distance;
    }
  }
  return found;
}

/** `; did you mean \`required\`?` for the nearest candidate, or "" when none is close: appended to a reason. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const found = nearest(name, candidates);
  return found === undefined ? "" : `; did you mean \`${found}\`?`;
}

/**
 * `a, b, c` for up to `max` names, then `and N more` (of `total`, when more exist than are given);
 * `empty` for none. Lists what a misspelt name could have been (the D1 queries configured, the
 * fields at a reference's failing point).
 */
export function listNames(names: readonly string[], max = 10, total = names.length): string {
  if (total === 0) return "empty";
  const shown = names.slice(0, max);
  const more = total - shown.length;
  return more > 0 ? `${shown.join(", ")} and ${more} more` : shown.join(", ");
}
