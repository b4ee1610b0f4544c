// What the storage backends (local and MySQL) share, so each rule has one owner.
import { CheckpointerError } from "./errors.js";
import type { CheckpointerCapabilities, CheckpointWrite, JsonValue, Metadata } from "./types.js";

/** Every capability: what the memory, file and MySQL backends all offer. */
export function allCapabilities(persistentCheckpointIds: boolean): CheckpointerCapabilities {
  return {
    search: true,
    metadataQuery: true,
    vacuum: true,
    branching: true,
    ttl: true,
    listThreads: true,
    listWithMetadata: true,
    persistentCheckpointIds,
  };
}

const DAY_MS = 86_400_000;

/** Vacuum's cutoff, in epoch milliseconds: checkpoints created before it are old. */
export function vacuumCutoff(nowMs: number, olderThanDays: number): number {
  return nowMs - olderThanDays * DAY_MS;
}

/** The compare-and-set error: the thread's latest checkpoint is not the one the caller saw. */
export function conflict(threadId: string, expected: string | null, actual?: string | null): CheckpointerError {
  const found = actual === undefined ? "" : `, found ${JSON.stringify(actual)}`;
  return new CheckpointerError(
    "CONFLICT",
    `thread ${JSON.stringify(threadId)} moved on: expected latest checkpoint ${JSON.stringify(expected)}${found}`,
  );
}

/**
 * A save naming a checkpoint id the thread already has: when that checkpoint holds the same state
 * and metadata (and, if the save names a parent, has that parent), the save is a retry of one
 * whose outcome the caller could not know (its connection died during COMMIT) and succeeds
 * without writing; anything else is `CONFLICT`.
 */
export function savedBefore(write: CheckpointWrite, stored: { document: string; metadata: Metadata; parentCheckpointId: string | null }): void {
  const same =
    stored.document === write.document &&
    canonicalJson(stored.metadata) === canonicalJson(write.metadata) &&
    (write.parentCheckpointId === undefined || write.parentCheckpointId === stored.parentCheckpointId);
  if (!same) throw new CheckpointerError("CONFLICT", `checkpoint ${JSON.stringify(write.checkpointId)} already exists in this thread with other content`);
}

/** JSON with object keys sorted, so equal values have equal text (`1` and `"1"` still differ). */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** True when `metadata[key]` exists and equals `value` as JSON (`1` is not `"1"`). */
export function metadataMatches(metadata: Metadata, key: string, value: JsonValue): boolean {
  const found = Object.hasOwn(metadata, key) ? metadata[key] : undefined;
  return found !== undefined && canonicalJson(found) === canonicalJson(value);
}

/** Orders strings by Unicode code point, as MySQL's binary collations do (UTF-16 order differs). */
export function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
