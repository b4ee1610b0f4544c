/**
 * What removing checkpoints from a thread's history takes, computed once, as data, for every
 * store to apply in one transaction (delete, vacuum with keepLast, TTL expiry). Removing rows
 * must leave every other checkpoint loadable and findable:
 *
 * - a document stored as a splice of a removed row is stored whole instead (`storeWhole`);
 * - a search text is the run of rows from its root to itself (`seq` between `textRootSeq` and
 *   its own): a surviving row whose run loses a row holds its whole text instead (`indexWhole`),
 *   and the later rows of that run that have no removed row after it take it as their root
 *   (`moveTextRoot`).
 *
 * Copying a thread, whole or up to a checkpoint, copies a prefix of its history; bases and roots
 * are always older than their rows, so a copy needs no mending.
 */

/** A checkpoint's links, as a history read under the thread's lock gives them. */
export interface HistoryLink {
  seq: number;
  /** The row its document is a splice of; null when it holds the whole document. */
  baseSeq: number | null;
  /** The first row of its text run; null when it holds its whole text. */
  textRootSeq: number | null;
}

export type RemovalStep =
  /** Read its document (before any step runs), then store it whole. */
  | { op: "storeWhole"; seq: number }
  /** Read its whole text (before any step runs), then store it whole. */
  | { op: "indexWhole"; seq: number }
  /** Rows with `after < seq <= upTo` whose text root is `from` get root `to`. */
  | { op: "moveTextRoot"; from: number; to: number; after: number; upTo: number }
  /** Delete the rows `first <= seq <= last` (none of which survives). */
  | { op: "delete"; first: number; last: number };

export interface RemovalPlan {
  steps: RemovalStep[];
  /** Rows removed. */
  removed: number;
  /** The newest surviving row, the thread's latest after the removal; null when none survives. */
  latestSeq: number | null;
}

/** The plan for removing the rows `doomed` (seqs) from `history` (oldest first). */
export function planRemoval(history: readonly HistoryLink[], doomed: ReadonlySet<number>): RemovalPlan {
  const mends: RemovalStep[] = [];
  const deletes: RemovalStep[] = [];
  /** For each old text root, the surviving row that took its place since the last removed row. */
  const rerooted = new Map<number, number>();
  let lastDoomed = -1;
  let removed = 0;
  let latestSeq: number | null = null;
  history.forEach((link, i) => {
    if (doomed.has(link.seq)) {
      removed++;
      lastDoomed = link.seq;
      // A removed row ends every re-rooting: a later row's run through it must be mended anew.
      rerooted.clear();
      const previous = history[i - 1];
      const run = deletes.at(-1);
      if (run?.op === "delete" && previous !== undefined && run.last === previous.seq) run.last = link.seq;
      else deletes.push({ op: "delete", first: link.seq, last: link.seq });
      return;
    }
    latestSeq = link.seq;
    if (link.baseSeq !== null && doomed.has(link.baseSeq)) mends.push({ op: "storeWhole", seq: link.seq });
    const root = link.textRootSeq;
    // Its run [root, seq] is intact unless a removed row lies in it.
    if (root === null || lastDoomed < root) return;
    if (rerooted.has(root)) return;
    mends.push({ op: "indexWhole", seq: link.seq });
    const upTo = nextDoomedBefore(history, i, doomed);
    if (upTo > link.seq) mends.push({ op: "moveTextRoot", from: root, to: link.seq, after: link.seq, upTo });
    rerooted.set(root, link.seq);
  });
  return { steps: [...mends, ...deletes], removed, latestSeq };
}

/** The seq of the last row before the next removed row after index `i` (or of the last row). */
function nextDoomedBefore(history: readonly HistoryLink[], i: number, doomed: ReadonlySet<number>): number {
  let j = i;
  while (j + 1 < history.length && !doomed.has(history[j + 1]!.seq)) j++;
  return history[j]!.seq;
}
