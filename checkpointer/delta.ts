/**
 * Delta checkpoints: a checkpoint stored as what changed since its parent, so a turn costs what
 * the turn adds rather than the whole conversation. Generic over documents: a splice of the
 * parent's serialised bytes (its first `prefix` and last `suffix` bytes kept, `middle` between).
 * A conversation that appends a message keeps everything but the closing brackets.
 */
export interface Splice {
  prefix: number;
  suffix: number;
  middle: Buffer;
}

/** The splice that turns `parent` into `next`: longest common prefix, then longest common suffix of the rest. */
export function spliceOf(parent: Buffer, next: Buffer): Splice {
  const limit = Math.min(parent.length, next.length);
  const prefix = longestCommon(limit, (n) => parent.compare(next, 0, n, 0, n) === 0);
  const suffix = longestCommon(limit - prefix, (n) => parent.compare(next, next.length - n, next.length, parent.length - n, parent.length) === 0);
  return { prefix, suffix, middle: next.subarray(prefix, next.length - suffix) };
}

/**
 * A snapshot with its chain of splices applied, in order. The document is kept as a list of
 * pieces (views, no copies) edited at its end, and put together once: applying each splice to a
 * whole document would copy the conversation once per delta. A splice that keeps all but the
 * end (a conversation that gained messages) touches only the last pieces, so a chain costs
 * time in proportion to its length, not its square.
 */
export function applyChain(snapshot: Buffer, splices: readonly Splice[]): Buffer {
  const pieces: Buffer[] = [snapshot];
  let length = snapshot.length;
  for (const { prefix, suffix, middle } of splices) {
    if (prefix + suffix > length) throw new RangeError("splice does not fit its parent");
    const tail = takeEnd(pieces, suffix);
    takeEnd(pieces, length - suffix - prefix);
    if (middle.length > 0) pieces.push(middle);
    pieces.push(...tail);
    length = prefix + middle.length + suffix;
  }
  return Buffer.concat(pieces, length);
}

/** Removes the last `bytes` bytes from the pieces (splitting one if need be) and returns them as pieces, in order. */
function takeEnd(pieces: Buffer[], bytes: number): Buffer[] {
  const taken: Buffer[] = [];
  let left = bytes;
  while (left > 0) {
    const last = pieces.pop()!;
    if (last.length > left) {
      pieces.push(last.subarray(0, last.length - left));
      taken.push(last.subarray(last.length - left));
      break;
    }
    taken.push(last);
    left -= last.length;
  }
  return taken.reverse();
}

/**
 * The largest n ≤ limit for which `same(n)` holds (it holds for every smaller n too), found by
 * bisection: a few dozen native compares instead of a loop over every byte in JS.
 */
function longestCommon(limit: number, same: (n: number) => boolean): number {
  let low = 0;
  let high = limit;
  while (low < high) {
    const mid = (low + high + 1) >>> 1;
    if (same(mid)) low = mid;
    else high = mid - 1;
  }
  return low;
}

/**
 * The search text a checkpoint adds to its parent's: the lines after the parent's text, when the
 * text only grew by whole lines (a conversation that gained messages); null when lines changed or
 * went, and the checkpoint must index its whole text again.
 */
export function appendedText(parentText: string, text: string): string | null {
  if (text === parentText) return "";
  if (parentText === "") return text;
  return text.startsWith(parentText) && text.charCodeAt(parentText.length) === 10 ? text.slice(parentText.length + 1) : null;
}

/** What a load of a checkpoint reads: its snapshot and the deltas after it. */
export interface Chain {
  snapshotBytes: number;
  /** Bytes of the deltas after the snapshot, this checkpoint's included. */
  deltaBytes: number;
  /** Deltas after the snapshot, this checkpoint's included (0 for a snapshot). */
  deltas: number;
}

/** Deltas a load may have to apply after its snapshot. */
export const MAX_CHAIN_DELTAS = 1024;

/**
 * Whether a child of a checkpoint with chain `parent` is stored as `splice` rather than whole.
 * A snapshot is written when the delta is not smaller than the document, when the deltas since
 * the last snapshot would add up to more than that snapshot, when the chain is long, or when the
 * document shrank below half its snapshot. So a load reads at most 2× its snapshot, which is at
 * most 2× its own document, in at most 1 + MAX_CHAIN_DELTAS rows: at most 4× the document's bytes.
 * For a growing conversation each snapshot is about twice the one before, so the documents stored
 * add up to between 2× (just before a snapshot) and 3× (just after one) the final document.
 */
export function chainAfter(parent: Chain, documentBytes: number, splice: Splice): Chain | null {
  const bytes = splice.middle.length;
  const deltaBytes = parent.deltaBytes + bytes;
  const keep =
    bytes < documentBytes &&
    parent.deltas < MAX_CHAIN_DELTAS &&
    deltaBytes <= parent.snapshotBytes &&
    documentBytes * 2 >= parent.snapshotBytes;
  return keep ? { snapshotBytes: parent.snapshotBytes, deltaBytes, deltas: parent.deltas + 1 } : null;
}

export const snapshotChain = (documentBytes: number): Chain => ({ snapshotBytes: documentBytes, deltaBytes: 0, deltas: 0 });

/** How `document` is stored as a delta of `base` and the chain it then ends, or null for a snapshot (no base, or the policy says so). */
export function deltaOf(base: { document: Buffer; chain: Chain } | undefined, document: Buffer): { splice: Splice; chain: Chain } | null {
  if (base === undefined) return null;
  const splice = spliceOf(base.document, document);
  const chain = chainAfter(base.chain, document.length, splice);
  return chain && { splice, chain };
}

/** A checkpoint's whole search text from the texts of its text run, root first. */
export const joinTexts = (texts: readonly string[]): string => texts.filter((t) => t !== "").join("\n");
