import { appendedText, deltaOf, joinTexts, planRemoval, rebuild, snapshotChain, type Chain } from "./delta.js";
import { CheckpointerError, isCheckpointerError } from "./errors.js";
import { RecentCheckpoints } from "./recent-checkpoints.js";
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
  /** A delta: the seq of the snapshot its chain starts from (absent for a snapshot). */
  snapshotSeq?: number;
  /** A delta: the parent's bytes it keeps, as [prefix, suffix]; its blob holds the middle. */
  splice?: [number, number];
  /** Its blob's text is appended to this checkpoint's whole text (absent: it holds its whole text). */
  textRootSeq?: number;
}

/** One thread's history, oldest first; the last entry is the latest checkpoint. */
export interface ThreadRecord {
  threadId: string;
  nextSeq: number;
  checkpoints: StoredCheckpoint[];
}

/** What a checkpoint stores: its document (or, for a delta, the splice's middle) and its search text (or the lines it appends). */
export interface StoredBlob {
  document: Buffer;
  text: string;
}

/** Blobs a record write adds, and the checkpoints whose blobs it no longer references. */
export interface RecordChange {
  added?: { checkpoint: StoredCheckpoint; blob: StoredBlob }[];
  dropped?: StoredCheckpoint[];
}

/**
 * Where a `LocalBackend` keeps its records. `write` must be atomic: after a crash either the
 * new record (with its new blobs) is there, or the old one is. A blob is never rewritten: a
 * checkpoint whose blob changes gets a new seq.
 */
export interface ThreadStorage {
  read(threadId: string): Promise<ThreadRecord | undefined>;
  write(record: ThreadRecord, change: RecordChange): Promise<void>;
  remove(threadId: string): Promise<void>;
  /** A blob's document bytes; undefined when it is gone (a write removed it since the record was read). */
  readDocument(threadId: string, checkpoint: StoredCheckpoint): Promise<Buffer | undefined>;
  readText(threadId: string, checkpoint: StoredCheckpoint): Promise<string | undefined>;
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
 * file checkpointers. Writes to one thread are serialised by an in-process lock. Checkpoints are
 * stored as deltas of their parent where `chainAfter` allows, as in the MySQL backend.
 */
export class LocalBackend implements StorageBackend {
  readonly capabilities: CheckpointerCapabilities;
  readonly #storage: ThreadStorage;
  readonly #ttlMs: number | null;
  readonly #now: () => number;
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Each thread's latest document as last saved or loaded, keyed by its seq: the base of the next delta. */
  readonly #recent = new RecentCheckpoints<number>();

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
      const last = record && latest(record);
      // Before the compare-and-set: a retried save's parent is no longer the latest.
      const existing = record?.checkpoints.find((c) => c.checkpointId === write.checkpointId);
      if (record && existing) {
        const document = (await this.#document(record, existing)).toString("utf8");
        return savedBefore(write, { document, metadata: existing.metadata, parentCheckpointId: existing.parentCheckpointId });
      }
      const parent = last?.checkpointId ?? null;
      if (write.parentCheckpointId !== undefined && write.parentCheckpointId !== parent) {
        throw conflict(write.threadId, write.parentCheckpointId, parent);
      }
      // Seqs are never reused, even when an expired thread restarts: old blobs may still be on disk.
      const seq = stored?.nextSeq ?? 1;
      const entry: StoredCheckpoint = {
        seq,
        checkpointId: write.checkpointId,
        parentCheckpointId: parent,
        createdAt: now,
        expiresAt: this.#ttlMs === null ? null : now + this.#ttlMs,
        metadata: write.metadata,
      };
      const document = Buffer.from(write.document, "utf8");
      const { links, blob, chain } = await this.#encode(record, write, document);
      Object.assign(entry, links);
      const next: ThreadRecord = { threadId: write.threadId, nextSeq: seq + 1, checkpoints: [...(record?.checkpoints ?? []), entry] };
      const added = [{ checkpoint: entry, blob }];
      await this.#storage.write(next, stored && !record ? { added, dropped: stored.checkpoints } : { added });
      this.#recent.set(write.threadId, { id: write.checkpointId, document, text: write.text, chain, token: seq });
    });
  }

  /**
   * How a new checkpoint after the record's latest is stored: as a splice of it when this process
   * holds its document and the delta policy allows, and with only the lines its text adds when it
   * only added lines; otherwise whole.
   */
  async #encode(record: ThreadRecord | undefined, write: CheckpointWrite, document: Buffer) {
    const whole = { links: {}, blob: { document, text: write.text }, chain: snapshotChain(document.length) };
    const last = record && latest(record);
    const recent = this.#recent.get(write.threadId);
    if (!record || !last || recent?.id !== last.checkpointId || recent.token !== last.seq) return whole;
    const delta = deltaOf(recent, document);
    // A base from a load has no text yet: read it, so this save too indexes only new lines.
    const appended = appendedText(recent.text ?? (await this.#text(record, last)), write.text);
    const links: Pick<StoredCheckpoint, "snapshotSeq" | "splice" | "textRootSeq"> = {
      ...(delta && { snapshotSeq: last.snapshotSeq ?? last.seq, splice: [delta.splice.prefix, delta.splice.suffix] }),
      ...(appended !== null && { textRootSeq: last.textRootSeq ?? last.seq }),
    };
    const blob = { document: delta ? delta.splice.middle : document, text: appended ?? write.text };
    return { links, blob, chain: delta?.chain ?? whole.chain };
  }

  async load(threadId: string, checkpointId?: string): Promise<string | null> {
    return this.#read(threadId, async () => {
      const record = await this.#visibleRecord(threadId);
      const found = record && this.#pick(record, checkpointId);
      if (!record || !found) return null;
      const { document, chain } = await this.#assemble(record, found);
      // The latest, as the base of the next save's delta.
      if (found === latest(record) && this.#recent.get(threadId)?.token !== found.seq) {
        this.#recent.set(threadId, { id: found.checkpointId, document, text: undefined, chain, token: found.seq });
      }
      return document.toString("utf8");
    });
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
        await this.#removeThread(threadId);
        return true;
      }
      const victim = record.checkpoints.find((c) => c.checkpointId === checkpointId);
      if (!victim) return false;
      await this.#removeCheckpoints(record, new Set([victim.seq]));
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
          await this.#removeThread(threadId);
          return record.checkpoints.length;
        }
        const protectedFrom = record.checkpoints.length - options.keepLast;
        const doomed = new Set(record.checkpoints.filter((c, i) => i < protectedFrom && dead(c)).map((c) => c.seq));
        if (doomed.size > 0) await this.#removeCheckpoints(record, doomed);
        return doomed.size;
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
      this.#recent.forget(destThreadId);
      await this.#storage.copy({ ...source, checkpoints }, destThreadId);
      return true;
    });
  }

  async search(query: string, limit: number, prefix: string): Promise<SearchHit[]> {
    const terms = queryTerms(query);
    const hits: (SearchHit & { updatedAt: number })[] = [];
    for (const summary of (await this.#summaries()).filter((s) => s.threadId.startsWith(prefix))) {
      const found = await this.#read(summary.threadId, async () => {
        const record = await this.#visibleRecord(summary.threadId);
        return record && { last: latest(record), text: await this.#text(record, latest(record)) };
      });
      if (!found) continue;
      const { last, text } = found;
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
    return record && this.#pick(record, checkpointId);
  }

  /** A visible record's latest checkpoint, or its checkpoint `checkpointId` if that is visible. */
  #pick(record: ThreadRecord, checkpointId?: string): StoredCheckpoint | undefined {
    if (checkpointId === undefined) return latest(record);
    const found = record.checkpoints.find((c) => c.checkpointId === checkpointId);
    return found && this.#visible(found, this.#now()) ? found : undefined;
  }

  /** A checkpoint's document, from its snapshot and the deltas after it, and that chain's sizes. */
  async #assemble(record: ThreadRecord, checkpoint: StoredCheckpoint): Promise<{ document: Buffer; chain: Chain }> {
    const links = runOf(record, checkpoint, checkpoint.snapshotSeq, "the snapshot its deltas start from");
    const [snapshot, ...middles] = (await Promise.all(links.map((c) => this.#readDocument(record, c)))) as [Buffer, ...Buffer[]];
    const splices = middles.map((middle, i) => {
      const link = links[i + 1]!;
      if (link.splice === undefined) throw damaged(record, link, "its splice");
      return { prefix: link.splice[0], suffix: link.splice[1], middle };
    });
    return rebuild(snapshot, splices);
  }

  async #document(record: ThreadRecord, checkpoint: StoredCheckpoint): Promise<Buffer> {
    return (await this.#assemble(record, checkpoint)).document;
  }

  /** A checkpoint's whole search text: its text run's texts, joined. */
  async #text(record: ThreadRecord, checkpoint: StoredCheckpoint): Promise<string> {
    const run = runOf(record, checkpoint, checkpoint.textRootSeq, "the checkpoint its text is appended to");
    return joinTexts(await Promise.all(run.map((c) => this.#readText(record, c))));
  }

  async #readDocument(record: ThreadRecord, checkpoint: StoredCheckpoint): Promise<Buffer> {
    return (await this.#storage.readDocument(record.threadId, checkpoint)) ?? Promise.reject(damaged(record, checkpoint, "its stored state"));
  }

  async #readText(record: ThreadRecord, checkpoint: StoredCheckpoint): Promise<string> {
    return (await this.#storage.readText(record.threadId, checkpoint)) ?? Promise.reject(damaged(record, checkpoint, "its search text"));
  }

  async #removeThread(threadId: string): Promise<void> {
    this.#recent.forget(threadId);
    await this.#storage.remove(threadId);
  }

  /**
   * Removes checkpoints `doomed` (seqs) of a locked thread and keeps every other one loadable
   * and findable, as `planRemoval` says: the checkpoint after a removed run that needs mending
   * is stored again, whole, under a new seq (blobs are never rewritten, so a crash leaves the
   * old record and its blobs intact), and the checkpoints that depended on it point to that seq.
   */
  async #removeCheckpoints(record: ThreadRecord, doomed: Set<number>): Promise<void> {
    this.#recent.forget(record.threadId);
    const links = record.checkpoints.map((c) => ({ seq: c.seq, snapshotSeq: c.snapshotSeq ?? null, textRootSeq: c.textRootSeq ?? null, checkpoint: c }));
    const mends = planRemoval(links, doomed).filter((m) => m.rebuildDocument || m.rebuildText);
    // Everything is read before anything changes.
    const blobs = await Promise.all(
      mends.map(async ({ next, rebuildDocument, rebuildText }) => {
        const c = next!.checkpoint;
        const [document, text] = await Promise.all([
          rebuildDocument ? this.#document(record, c) : this.#readDocument(record, c),
          rebuildText ? this.#text(record, c) : this.#readText(record, c),
        ]);
        return { document, text };
      }),
    );
    let checkpoints = record.checkpoints.filter((c) => !doomed.has(c.seq));
    const dropped = record.checkpoints.filter((c) => doomed.has(c.seq));
    const added: { checkpoint: StoredCheckpoint; blob: StoredBlob }[] = [];
    let nextSeq = record.nextSeq;
    mends.forEach(({ next, rebuildDocument, rebuildText }, i) => {
      const old = next!.checkpoint;
      const seq = nextSeq++;
      const mended: StoredCheckpoint = { ...old, seq };
      if (rebuildDocument) {
        delete mended.snapshotSeq;
        delete mended.splice;
      }
      if (rebuildText) delete mended.textRootSeq;
      const after = checkpoints.indexOf(old);
      // Its chain and its text run now start from it; whatever named its old seq names the new one.
      checkpoints = checkpoints.map((c, at) => {
        if (c === old) return mended;
        const moved = { ...c };
        if (at > after && rebuildDocument && c.snapshotSeq === old.snapshotSeq) moved.snapshotSeq = seq;
        if (at > after && rebuildText && c.textRootSeq === old.textRootSeq) moved.textRootSeq = seq;
        if (c.snapshotSeq === old.seq) moved.snapshotSeq = seq;
        if (c.textRootSeq === old.seq) moved.textRootSeq = seq;
        return moved;
      });
      added.push({ checkpoint: mended, blob: blobs[i]! });
      dropped.push(old);
    });
    if (checkpoints.length === 0) return this.#storage.remove(record.threadId);
    await this.#storage.write({ ...record, nextSeq, checkpoints }, { added, dropped });
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

  /**
   * A read of a thread's blobs without its lock. A blob found gone means a write on the thread
   * removed it after the record was read: the read runs again once that write is done, and then
   * a missing blob is a damaged store.
   */
  async #read<T>(threadId: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (!isCheckpointerError(error, "SCHEMA")) throw error;
      return this.#withLock(threadId, read);
    }
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

/** The checkpoints from the one with seq `rootSeq` (the checkpoint itself when undefined) up to `checkpoint`, oldest first. */
function runOf(record: ThreadRecord, checkpoint: StoredCheckpoint, rootSeq: number | undefined, root: string): StoredCheckpoint[] {
  if (rootSeq === undefined) return [checkpoint];
  const start = record.checkpoints.findIndex((c) => c.seq === rootSeq);
  if (start < 0) throw damaged(record, checkpoint, root);
  return record.checkpoints.slice(start, record.checkpoints.indexOf(checkpoint) + 1);
}

function damaged(record: ThreadRecord, checkpoint: StoredCheckpoint, missing: string): CheckpointerError {
  return new CheckpointerError("SCHEMA", `checkpoint ${JSON.stringify(checkpoint.checkpointId)} of thread ${JSON.stringify(record.threadId)} cannot be rebuilt: ${missing} is missing`);
}

function info(threadId: string, c: StoredCheckpoint): CheckpointInfo {
  return { threadId, checkpointId: c.checkpointId, parentCheckpointId: c.parentCheckpointId, createdAt: new Date(c.createdAt), metadata: c.metadata };
}
