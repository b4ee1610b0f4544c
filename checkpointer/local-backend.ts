import { CheckpointerError } from "./errors.js";
import { queryTerms, snippet, termScore } from "./search-text.js";
import type {
  CheckpointerCapabilities,
  CheckpointInfo,
  CheckpointWrite,
  JsonValue,
  Metadata,
  SearchHit,
  StorageBackend,
  ThreadPage,
  ThreadSummary,
} from "./types.js";
import { allCapabilities, compareCodePoints, conflict, metadataMatches, savedBefore, vacuumCutoff } from "./backend-shared.js";

export interface StoredCheckpoint {
  seq: number;
  checkpointId: string;
  parentCheckpointId: string | null;
  createdAt: number;
  expiresAt: number | null;
  metadata: Metadata;
}

/** One thread's history, oldest first; the last entry is the latest checkpoint. */
export interface ThreadRecord {
  threadId: string;
  nextSeq: number;
  checkpoints: StoredCheckpoint[];
}

export interface StoredBlob {
  document: string;
  text: string;
}

/**
 * Where a `LocalBackend` keeps its records. `write` must be atomic: after a crash either the
 * new record (with its new blob) is there, or the old one is.
 */
export interface ThreadStorage {
  read(threadId: string): Promise<ThreadRecord | undefined>;
  /** Stores the record; `added` is the blob of a new checkpoint, `dropped` the seqs no longer referenced. */
  write(record: ThreadRecord, change: { added?: { seq: number; blob: StoredBlob }; dropped?: number[] }): Promise<void>;
  remove(threadId: string): Promise<void>;
  readBlob(threadId: string, seq: number): Promise<StoredBlob | undefined>;
  /** Copies a thread's record and the blobs it lists to a new id. */
  copy(record: ThreadRecord, destThreadId: string): Promise<void>;
  records(): Promise<ThreadRecord[]>;
  close(): Promise<void>;
}

export interface LocalBackendOptions {
  /** Checkpoints expire this many seconds after they are saved: invisible, then vacuumed. */
  ttlSeconds?: number | undefined;
  /** The clock, in epoch milliseconds (tests move it). */
  now?: (() => number) | undefined;
}

/**
 * The whole checkpointer contract over a `ThreadStorage`, in process: shared by the memory and
 * file checkpointers. Writes to one thread are serialised by an in-process lock.
 */
export class LocalBackend implements StorageBackend {
  readonly capabilities: CheckpointerCapabilities;
  readonly #storage: ThreadStorage;
  readonly #ttlMs: number | null;
  readonly #now: () => number;
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(storage: ThreadStorage, options: LocalBackendOptions & { persistent: boolean }) {
    this.#storage = storage;
    this.#ttlMs = options.ttlSeconds === undefined ? null : options.ttlSeconds * 1000;
    this.#now = options.now ?? Date.now;
    this.capabilities = allCapabilities(options.persistent);
  }

  async save(write: CheckpointWrite): Promise<void> {
    await this.#withLock(write.threadId, async () => {
      const now = this.#now();
      const stored = await this.#storage.read(write.threadId);
      // An expired thread is gone as far as callers can tell: start it afresh.
      const record = stored && this.#visible(latest(stored), now) ? stored : undefined;
      const parent = record ? latest(record).checkpointId : null;
      // Before the compare-and-set: a retried save's parent is no longer the latest.
      const existing = record?.checkpoints.find((c) => c.checkpointId === write.checkpointId);
      if (existing) {
        const blob = await this.#storage.readBlob(write.threadId, existing.seq);
        return savedBefore(write, { document: blob?.document ?? "", metadata: existing.metadata, parentCheckpointId: existing.parentCheckpointId });
      }
      if (write.parentCheckpointId !== undefined && write.parentCheckpointId !== parent) {
        throw conflict(write.threadId, write.parentCheckpointId, parent);
      }
      // Seqs are never reused, even when an expired thread restarts: old blobs may still be on disk.
      const seq = stored?.nextSeq ?? 1;
      const next: ThreadRecord = {
        threadId: write.threadId,
        nextSeq: seq + 1,
        checkpoints: [
          ...(record?.checkpoints ?? []),
          {
            seq,
            checkpointId: write.checkpointId,
            parentCheckpointId: parent,
            createdAt: now,
            expiresAt: this.#ttlMs === null ? null : now + this.#ttlMs,
            metadata: write.metadata,
          },
        ],
      };
      const added = { seq, blob: { document: write.document, text: write.text } };
      await this.#storage.write(next, stored && !record ? { added, dropped: stored.checkpoints.map((c) => c.seq) } : { added });
    });
  }

  async load(threadId: string, checkpointId?: string): Promise<string | null> {
    const found = await this.#find(threadId, checkpointId);
    if (!found) return null;
    const blob = await this.#storage.readBlob(threadId, found.seq);
    return blob?.document ?? null;
  }

  async listCheckpoints(threadId: string, limit: number): Promise<string[]> {
    const record = await this.#visibleRecord(threadId);
    if (!record) return [];
    const now = this.#now();
    return record.checkpoints
      .filter((c) => this.#visible(c, now))
      .reverse()
      .slice(0, limit)
      .map((c) => c.checkpointId);
  }

  async delete(threadId: string, checkpointId?: string): Promise<boolean> {
    return this.#withLock(threadId, async () => {
      const record = await this.#storage.read(threadId);
      if (!record) return false;
      if (checkpointId === undefined) {
        await this.#storage.remove(threadId);
        return true;
      }
      const victim = record.checkpoints.find((c) => c.checkpointId === checkpointId);
      if (!victim) return false;
      const rest = record.checkpoints.filter((c) => c !== victim);
      if (rest.length === 0) await this.#storage.remove(threadId);
      else await this.#storage.write({ ...record, checkpoints: rest }, { dropped: [victim.seq] });
      return true;
    });
  }

  async exists(threadId: string, checkpointId?: string): Promise<boolean> {
    return (await this.#find(threadId, checkpointId)) !== undefined;
  }

  async listThreads(options: ThreadPage): Promise<string[]> {
    return (await this.listWithMetadata(options)).map((s) => s.threadId);
  }

  async getMetadata(threadId: string, checkpointId?: string): Promise<CheckpointInfo | null> {
    const found = await this.#find(threadId, checkpointId);
    return found ? info(threadId, found) : null;
  }

  async queryByMetadata(key: string, value: JsonValue, limit: number): Promise<ThreadSummary[]> {
    return (await this.#summaries()).filter((s) => metadataMatches(s.metadata, key, value)).slice(0, limit);
  }

  async listWithMetadata(options: ThreadPage): Promise<ThreadSummary[]> {
    let summaries = (await this.#summaries()).filter((s) => s.threadId.startsWith(options.prefix));
    if (options.cursor !== undefined) {
      const at = summaries.findIndex((s) => s.threadId === options.cursor);
      if (at < 0) throw new CheckpointerError("INVALID_INPUT", "cursor names no thread (it may have been deleted)");
      summaries = summaries.slice(at + 1);
    }
    return summaries.slice(0, options.limit);
  }

  async vacuum(options: { olderThanDays: number; keepLast: number }): Promise<number> {
    const now = this.#now();
    const cutoff = vacuumCutoff(now, options.olderThanDays);
    const dead = (c: StoredCheckpoint) => c.createdAt < cutoff || !this.#visible(c, now);
    let deleted = 0;
    for (const { threadId } of await this.#storage.records()) {
      deleted += await this.#withLock(threadId, async () => {
        const record = await this.#storage.read(threadId);
        if (!record) return 0;
        if (dead(latest(record))) {
          await this.#storage.remove(threadId);
          return record.checkpoints.length;
        }
        const protectedFrom = record.checkpoints.length - options.keepLast;
        const keep = record.checkpoints.filter((c, i) => i >= protectedFrom || !dead(c));
        if (keep.length === record.checkpoints.length) return 0;
        const dropped = record.checkpoints.filter((c) => !keep.includes(c)).map((c) => c.seq);
        await this.#storage.write({ ...record, checkpoints: keep }, { dropped });
        return dropped.length;
      });
    }
    return deleted;
  }

  async copyThread(sourceThreadId: string, destThreadId: string, upTo?: string): Promise<boolean> {
    return this.#withLock(destThreadId, async () => {
      const source = await this.#visibleRecord(sourceThreadId);
      const end = upTo === undefined ? source?.checkpoints.length : source?.checkpoints.findIndex((c) => c.checkpointId === upTo);
      if (!source || end === undefined || end < 0) return false;
      if (await this.#visibleRecord(destThreadId)) {
        throw new CheckpointerError("CONFLICT", `thread ${JSON.stringify(destThreadId)} already exists`);
      }
      const checkpoints = upTo === undefined ? source.checkpoints : source.checkpoints.slice(0, end + 1);
      await this.#storage.copy({ ...source, checkpoints }, destThreadId);
      return true;
    });
  }

  async search(query: string, limit: number, prefix: string): Promise<SearchHit[]> {
    const terms = queryTerms(query);
    const hits: (SearchHit & { updatedAt: number })[] = [];
    for (const summary of (await this.#summaries()).filter((s) => s.threadId.startsWith(prefix))) {
      const record = await this.#visibleRecord(summary.threadId);
      if (!record) continue;
      const last = latest(record);
      const text = (await this.#storage.readBlob(summary.threadId, last.seq))?.text ?? "";
      const score = termScore(text, terms);
      if (score > 0) {
        hits.push({ threadId: summary.threadId, checkpointId: last.checkpointId, score, snippet: snippet(text, query), updatedAt: last.createdAt });
      }
    }
    hits.sort((a, b) => b.score - a.score || b.updatedAt - a.updatedAt);
    return hits.slice(0, limit).map(({ updatedAt: _, ...hit }) => hit);
  }

  /** Lets writes in flight finish. `BackendCheckpointer` calls it once and refuses calls after it. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#locks.values());
    await this.#storage.close();
  }

  #visible(c: StoredCheckpoint, now: number): boolean {
    return c.expiresAt === null || c.expiresAt > now;
  }

  async #visibleRecord(threadId: string): Promise<ThreadRecord | undefined> {
    const record = await this.#storage.read(threadId);
    return record && this.#visible(latest(record), this.#now()) ? record : undefined;
  }

  async #find(threadId: string, checkpointId?: string): Promise<StoredCheckpoint | undefined> {
    const record = await this.#visibleRecord(threadId);
    if (!record) return undefined;
    if (checkpointId === undefined) return latest(record);
    const found = record.checkpoints.find((c) => c.checkpointId === checkpointId);
    return found && this.#visible(found, this.#now()) ? found : undefined;
  }

  /** Visible threads, most recently updated first (ties: thread id, descending). */
  async #summaries(): Promise<ThreadSummary[]> {
    const now = this.#now();
    return (await this.#storage.records())
      .filter((r) => this.#visible(latest(r), now))
      .map((r) => {
        const last = latest(r);
        return { threadId: r.threadId, checkpointId: last.checkpointId, updatedAt: new Date(last.createdAt), metadata: last.metadata };
      })
      .sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime() || compareCodePoints(b.threadId, a.threadId));
  }

  async #withLock<T>(threadId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(threadId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(work);
    this.#locks.set(threadId, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(threadId) === run) this.#locks.delete(threadId);
    }
  }
}

function latest(record: ThreadRecord): StoredCheckpoint {
  const last = record.checkpoints.at(-1);
  // FileStorage checks what it reads; a record without checkpoints is a corrupt store.
  if (!last) throw new CheckpointerError("SCHEMA", `thread record ${JSON.stringify(record.threadId)} has no checkpoints`);
  return last;
}

function info(threadId: string, c: StoredCheckpoint): CheckpointInfo {
  return { threadId, checkpointId: c.checkpointId, parentCheckpointId: c.parentCheckpointId, createdAt: new Date(c.createdAt), metadata: c.metadata };
}
