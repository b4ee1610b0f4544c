import { createHash, randomBytes } from "node:crypto";
import { allCapabilities, canonicalJson, compareCodePoints, conflict, metadataMatches, savedBefore, vacuumCutoff } from "./backend-shared.js";
import type { ChainRow, CheckpointStatements, LockRow, SqlDialect, StoredJson, StoredTime, SummaryRow } from "./checkpoint-sql.js";
import { traced, type CheckpointerOperation, type CheckpointerOperationMessage } from "./diagnostics.js";
import { appendedText, deltaOf, joinTexts, MAX_CHAIN_DELTAS, snapshotChain, type Chain } from "./delta.js";
import { CheckpointerError } from "./errors.js";
import { RecentCheckpoints, type RecentCheckpoint } from "./recent-checkpoints.js";
import { planRemoval } from "./removal-plan.js";
import { queryTerms, snippet, termScore } from "./search-text.js";
import type { SqlDatabase, SqlRunner } from "./statement.js";
import { assemble, checkOf, encode, orderChain } from "./stored-document.js";
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

/** Words of a query that search uses; the rest are ignored (each costs a pass over the text). */
export const MAX_SEARCH_TERMS = 16;
/** Threads a search within a prefix (a tenant) looks at: its most recently updated. */
export const SEARCH_THREADS = 1_000;
/** Rows of text a search reads at most. */
const SEARCH_ROWS = 10_000;
/** Rows a search text run may span before a checkpoint holds its whole text again. */
export const MAX_TEXT_RUN = MAX_CHAIN_DELTAS;
const VACUUM_BATCH = 500;
/** Threads vacuumed per transaction: one commit per group, while a save waits at most one short group. */
const VACUUM_GROUP = 25;
/** Room for the statement's text and its small columns beside the state and text it sends. */
const STATEMENT_OVERHEAD = 8 * 1024;

export interface SqlBackendOptions {
  /** The clock, in epoch milliseconds (tests step it back and forth). */
  now?: (() => number) | undefined;
  /** Checkpoints expire this many seconds after they are saved: invisible, then vacuumed. */
  ttlSeconds?: number | undefined;
}

/** Where a cached document sits in its thread: a delta of it is valid only while these still match. */
interface RowPosition {
  rowToken: Buffer;
  seq: number;
  textRootSeq: number | null;
}

/** The hash of one top-level metadata pair, as `queryByMetadata`'s index stores it. */
export function metadataPairHash(key: string, value: JsonValue): string {
  return createHash("sha256").update(JSON.stringify([key, canonicalJson(value)])).digest("hex").slice(0, 32);
}

const metadataIndex = (metadata: Metadata) => JSON.stringify(Object.entries(metadata).map(([k, v]) => metadataPairHash(k, v)));

/**
 * The checkpointer's storage over any SQL database that has the engine's statements (MySQL,
 * SQLite): one design for every store. A checkpoint is a row; a save after a load or save of its
 * parent stores only what changed (a splice of the parent's document, and the lines its text
 * adds), verified by token, length and checksum; removals follow one plan (removal-plan.ts).
 */
export class SqlBackend implements StorageBackend {
  readonly capabilities: CheckpointerCapabilities;
  readonly #db: SqlDatabase;
  readonly #sql: CheckpointStatements;
  readonly #dialect: SqlDialect;
  readonly #now: () => number;
  readonly #ttlMs: number | null;
  /** Each thread's document as this process last saved or loaded it: the base of its next delta. */
  readonly #recent = new RecentCheckpoints<RowPosition>();

  constructor(db: SqlDatabase, dialect: SqlDialect, options: SqlBackendOptions & { persistent: boolean }) {
    this.#db = db;
    this.#dialect = dialect;
    this.#sql = dialect.statements;
    this.#now = options.now ?? Date.now;
    this.#ttlMs = options.ttlSeconds === undefined ? null : options.ttlSeconds * 1000;
    this.capabilities = allCapabilities(options.persistent);
  }

  save(write: CheckpointWrite): Promise<void> {
    return traced(this.#message("save", write.threadId, write.checkpointId), (message) => this.#save(write, message));
  }

  async #save(write: CheckpointWrite, message: CheckpointerOperationMessage): Promise<void> {
    const { threadId, checkpointId } = write;
    const now = this.#now();
    const document = Buffer.from(write.document, "utf8");
    // Everything that costs CPU happens before the transaction, against the cached parent.
    const base = this.#baseFor(write);
    const delta = deltaOf(base, document);
    const spliced = delta && { ...encode(delta.splice.middle), splice: delta.splice, chain: delta.chain };
    // Compressed now when no delta is planned; in the transaction only if the planned one's base moved.
    const whole = spliced ? undefined : wholeOf(document);
    const baseText = base && (base.text ?? (await this.#wholeText(this.#db, threadId, base.token.seq)));
    const appended = baseText === undefined ? null : appendedText(baseText, write.text);
    const check = checkOf(document);
    const rowToken = randomBytes(16);
    const metadata = JSON.stringify(write.metadata);
    const saved = await this.#db.transaction(async (tx): Promise<{ chain: Chain; token: RowPosition } | undefined> => {
      // A thread this process has seen is locked in one statement; claiming one costs two on MySQL.
      let [claimed] = this.#recent.has(threadId) ? await tx.select(this.#sql.lockThread, { threadId, checkpointId }) : [];
      claimed ??= (await tx.select(this.#sql.claimThread, { threadId, checkpointId, now: new Date(now) }))[0];
      const lock = claimed && claimed.latest_seq > 0 ? claimed : undefined;
      // Before the compare-and-set: a retried save's parent is no longer the latest.
      if (lock && lock.named_seq !== null) {
        Object.assign(message, { kind: "none", bytesWritten: 0 });
        await this.#savedBefore(tx, write, lock.named_seq);
        return undefined;
      }
      const live = lock !== undefined && !expired(lock.expires_at, now);
      const parent = live ? lock.latest_checkpoint_id : null;
      if (write.parentCheckpointId !== undefined && write.parentCheckpointId !== parent) {
        message.conflict = true;
        throw conflict(threadId, write.parentCheckpointId, parent);
      }
      // Seqs are never reused while the thread row lives: an expired thread's old rows stay until vacuumed.
      const seq = claimed?.next_seq ?? 1;
      const onBase = live && base !== undefined && isPosition(base, lock);
      const root = lock?.text_root_seq ?? lock?.latest_seq;
      const textRoot = onBase && appended !== null && root !== undefined && seq - root < MAX_TEXT_RUN ? root : null;
      const stored = onBase && spliced ? spliced : (whole ?? wholeOf(document));
      const searchText = textRoot === null ? write.text : appended!;
      this.#checkSize(stored.data.length + Buffer.byteLength(searchText) + Buffer.byteLength(metadata));
      Object.assign(message, { kind: stored.splice ? "delta" : "snapshot", bytesWritten: stored.data.length, chainLength: stored.chain.deltas });
      await tx.run(this.#sql.insertCheckpoint, {
        threadId,
        seq,
        checkpointId,
        parentCheckpointId: parent,
        createdAt: new Date(now),
        expiresAt: this.#expiry(now),
        metadata,
        state: stored.data,
        encoding: stored.encoding,
        baseSeq: stored.splice ? lock!.latest_seq : null,
        snapshotSeq: stored.splice ? chainStart(lock!) : null,
        splicePrefix: stored.splice?.prefix ?? null,
        spliceSuffix: stored.splice?.suffix ?? null,
        docBytes: check.bytes,
        docCrc32: check.crc32,
        rowToken,
        searchText,
        textRootSeq: textRoot,
      });
      await tx.run(this.#sql.saveThread, {
        threadId,
        nextSeq: seq + 1,
        latestSeq: seq,
        latestCheckpointId: checkpointId,
        parentCheckpointId: parent,
        updatedAt: new Date(now),
        expiresAt: this.#expiry(now),
        metadata,
        metadataIndex: metadataIndex(write.metadata),
      });
      return { chain: stored.chain, token: { rowToken, seq, textRootSeq: textRoot } };
    });
    if (saved) this.#recent.set(threadId, { id: checkpointId, document, text: write.text, ...saved });
  }

  /** The cached document a save can be a delta of: the parent it names or, naming none, the one last seen. */
  #baseFor(write: CheckpointWrite): RecentCheckpoint<RowPosition> | undefined {
    const recent = this.#recent.get(write.threadId);
    if (recent === undefined || write.parentCheckpointId === null) return undefined;
    return write.parentCheckpointId === undefined || write.parentCheckpointId === recent.id ? recent : undefined;
  }

  /**
   * A save naming a checkpoint id the thread already has: a retry of a save whose commit the
   * caller could not confirm succeeds without writing when it stored the same; otherwise CONFLICT.
   */
  async #savedBefore(tx: SqlRunner, write: CheckpointWrite, seq: number): Promise<void> {
    const [header] = await tx.select(this.#sql.checkpointSeq, { threadId: write.threadId, checkpointId: write.checkpointId });
    const { document } = this.#assemble(await tx.select(this.#sql.loadBySeq, { threadId: write.threadId, seq }), write.threadId);
    savedBefore(write, {
      document: document.toString("utf8"),
      metadata: parseJson(header!.metadata),
      parentCheckpointId: header!.parent_checkpoint_id,
    });
  }

  /** A checkpoint's whole search text: the texts of its run, oldest first. */
  async #wholeText(runner: SqlRunner, threadId: string, seq: number): Promise<string> {
    return joinTexts((await runner.select(this.#sql.textRun, { threadId, seq })).map((r) => r.search_text));
  }

  #checkSize(bytes: number): void {
    const limit = this.#db.statementLimit;
    if (limit !== undefined && bytes + STATEMENT_OVERHEAD > limit.bytes) {
      throw new CheckpointerError(
        "TOO_LARGE",
        `checkpoint needs a statement of ${bytes + STATEMENT_OVERHEAD} bytes (state, search text and metadata as stored); ${limit.setting} is ${limit.bytes} bytes`,
      );
    }
  }

  load(threadId: string, checkpointId?: string): Promise<string | null> {
    return traced(this.#message("load", threadId, checkpointId), (message) => this.#load(threadId, checkpointId, message));
  }

  async #load(threadId: string, checkpointId: string | undefined, message: CheckpointerOperationMessage): Promise<string | null> {
    const now = this.#date();
    const rows = await (checkpointId === undefined
      ? this.#db.select(this.#sql.loadLatest, { threadId, now })
      : this.#db.select(this.#sql.loadById, { threadId, checkpointId, now }));
    if (rows.length === 0) return null;
    const { document, chain, target } = this.#assemble(rows, threadId);
    message.checkpointId = target.checkpoint_id;
    message.chainLength = chain.deltas;
    // What this process last loaded is the base of its next save's delta (rows from before v3 have no token).
    const cached = this.#recent.get(threadId);
    if (target.row_token !== null && !(cached?.id === target.checkpoint_id && cached.token.rowToken.equals(target.row_token))) {
      const token = { rowToken: asBuffer(target.row_token), seq: target.seq, textRootSeq: target.text_root_seq };
      this.#recent.set(threadId, { id: target.checkpoint_id, document, text: undefined, chain, token });
    }
    return document.toString("utf8");
  }

  /** A document from its chain's rows (as the recursive query returns them), verified. */
  #assemble(rows: ChainRow[], threadId: string): { document: Buffer; chain: Chain; target: ChainRow } {
    const target = rows.find((r) => r.seq === r.target_seq);
    const what = `checkpoint ${JSON.stringify(target?.checkpoint_id)} of thread ${JSON.stringify(threadId)}`;
    if (target === undefined) throw new CheckpointerError("CORRUPT", `${what} cannot be rebuilt: its row is missing`);
    const ordered = orderChain(rows, target.seq, (r) => r.seq, (r) => r.base_seq, what);
    if (ordered.some((r) => !(r.state instanceof Uint8Array))) throw new CheckpointerError("CORRUPT", `${what} cannot be rebuilt: a row's state is not bytes`);
    const pieces = ordered.map((r) => ({
      data: asBuffer(r.state),
      encoding: r.encoding,
      splice: r.base_seq === null ? null : { prefix: Number(r.splice_prefix), suffix: Number(r.splice_suffix) },
      check: r.doc_bytes === null || r.doc_crc32 === null ? null : { bytes: Number(r.doc_bytes), crc32: Number(r.doc_crc32) },
    }));
    return { ...assemble(pieces, what), target };
  }

  listCheckpoints(threadId: string, limit: number): Promise<string[]> {
    return traced(this.#message("listCheckpoints", threadId, undefined), () => this.#listCheckpoints(threadId, limit));
  }

  async #listCheckpoints(threadId: string, limit: number): Promise<string[]> {
    return (await this.#db.select(this.#sql.listCheckpoints, { threadId, now: this.#date(), limit })).map((r) => r.checkpoint_id);
  }

  delete(threadId: string, checkpointId?: string): Promise<boolean> {
    return traced(this.#message("delete", threadId, checkpointId), () => this.#delete(threadId, checkpointId));
  }

  async #delete(threadId: string, checkpointId: string | undefined): Promise<boolean> {
    this.#recent.forget(threadId);
    return this.#db.transaction(async (tx) => {
      if (checkpointId === undefined) return (await tx.run(this.#sql.deleteThread, { threadId })) > 0;
      const [lock] = await tx.select(this.#sql.lockThread, { threadId, checkpointId });
      if (!lock || lock.named_seq === null) return false;
      await this.#remove(tx, threadId, lock, new Set([lock.named_seq]));
      return true;
    });
  }

  exists(threadId: string, checkpointId?: string): Promise<boolean> {
    return traced(this.#message("exists", threadId, checkpointId), () => this.#exists(threadId, checkpointId));
  }

  async #exists(threadId: string, checkpointId: string | undefined): Promise<boolean> {
    const now = this.#date();
    const rows = await (checkpointId === undefined
      ? this.#db.select(this.#sql.threadExists, { threadId, now })
      : this.#db.select(this.#sql.checkpointExists, { threadId, checkpointId, now }));
    return rows.length > 0;
  }

  listThreads(options: ThreadPage): Promise<string[]> {
    return traced(this.#message("listThreads", undefined, undefined), () => this.#listThreads(options));
  }

  async #listThreads(options: ThreadPage): Promise<string[]> {
    return (await this.#page(options)).map((r) => r.thread_id);
  }

  getMetadata(threadId: string, checkpointId?: string): Promise<CheckpointInfo | null> {
    return traced(this.#message("getMetadata", threadId, checkpointId), () => this.#getMetadata(threadId, checkpointId));
  }

  async #getMetadata(threadId: string, checkpointId: string | undefined): Promise<CheckpointInfo | null> {
    const now = this.#date();
    const [row] = await (checkpointId === undefined
      ? this.#db.select(this.#sql.infoLatest, { threadId, now })
      : this.#db.select(this.#sql.infoById, { threadId, checkpointId, now }));
    if (!row) return null;
    return {
      threadId: row.thread_id,
      checkpointId: row.checkpoint_id,
      parentCheckpointId: row.parent_checkpoint_id,
      createdAt: toDate(row.created_at),
      metadata: parseJson(row.metadata),
    };
  }

  queryByMetadata(key: string, value: JsonValue, limit: number): Promise<ThreadSummary[]> {
    return traced(this.#message("queryByMetadata", undefined, undefined), () => this.#queryByMetadata(key, value, limit));
  }

  async #queryByMetadata(key: string, value: JsonValue, limit: number): Promise<ThreadSummary[]> {
    const rows = await this.#db.select(this.#sql.queryByMetadata, { pairHash: metadataPairHash(key, value), now: this.#date(), limit });
    // The index matches a 128-bit hash; the value itself is compared so equality stays exact.
    return rows.map(summary).filter((s) => metadataMatches(s.metadata, key, value));
  }

  listWithMetadata(options: ThreadPage): Promise<ThreadSummary[]> {
    return traced(this.#message("listWithMetadata", undefined, undefined), () => this.#listWithMetadata(options));
  }

  async #listWithMetadata(options: ThreadPage): Promise<ThreadSummary[]> {
    return (await this.#page(options)).map(summary);
  }

  async #page({ limit, prefix, cursor }: ThreadPage): Promise<SummaryRow[]> {
    const listing = { prefix, prefixEnd: prefixEnd(prefix), now: this.#date(), limit };
    if (cursor === undefined) return this.#db.select(this.#sql.listThreads, listing);
    const [position] = await this.#db.select(this.#sql.cursorPosition, { cursor });
    if (!position) throw new CheckpointerError("INVALID_INPUT", "cursor names no thread (it may have been deleted)");
    return this.#db.select(this.#sql.listThreadsAfter, { ...listing, cursor, cursorAt: position.updated_at });
  }

  vacuum(options: { olderThanDays: number; keepLast: number }): Promise<number> {
    return traced(this.#message("vacuum", undefined, undefined), () => this.#vacuum(options));
  }

  async #vacuum(options: { olderThanDays: number; keepLast: number }): Promise<number> {
    const now = this.#date();
    const cutoff = new Date(vacuumCutoff(now.getTime(), options.olderThanDays));
    let deleted = 0;
    // Threads whose latest checkpoint is dead (old or expired) go whole.
    for (let rows; !rows || rows.length === VACUUM_BATCH; ) {
      rows = await this.#db.select(this.#sql.deadThreads, { cutoff, now, batch: VACUUM_BATCH });
      deleted += await this.#inGroups(rows, async (tx, { thread_id: threadId }) => {
        // Re-checked under the lock: a save may have revived the thread since it was picked.
        if ((await tx.select(this.#sql.lockDeadThread, { threadId, cutoff, now })).length === 0) return 0;
        const removed = (await tx.select(this.#sql.history, { threadId })).length;
        await tx.run(this.#sql.deleteThread, { threadId });
        return removed;
      });
    }
    // Dead checkpoints of live threads, but the latest and the newest keepLast: up to the newest
    // seq picked in each thread, as every older dead one has even more checkpoints after it.
    for (let rows; !rows || rows.length === VACUUM_BATCH; ) {
      rows = await this.#db.select(this.#sql.deadCheckpoints, { cutoff, now, keepLast: options.keepLast, batch: VACUUM_BATCH });
      const upTo = new Map<string, number>();
      for (const row of rows) upTo.set(row.thread_id, Math.max(upTo.get(row.thread_id) ?? 0, row.seq));
      deleted += await this.#inGroups([...upTo], async (tx, [threadId, seq]) => {
        const [lock] = await tx.select(this.#sql.lockThread, { threadId, checkpointId: "" });
        if (!lock) return 0;
        const dead = await tx.select(this.#sql.deadSeqs, { threadId, upTo: seq, cutoff, now });
        return this.#remove(tx, threadId, lock, new Set(dead.map((r) => r.seq)));
      });
    }
    return deleted;
  }

  copyThread(sourceThreadId: string, destThreadId: string, upTo?: string): Promise<boolean> {
    return traced(this.#message("copyThread", sourceThreadId, upTo), () => this.#copyThread(sourceThreadId, destThreadId, upTo));
  }

  async #copyThread(sourceThreadId: string, destThreadId: string, upTo: string | undefined): Promise<boolean> {
    this.#recent.forget(destThreadId);
    return this.#db.transaction(async (tx) => {
      const [source] = await tx.select(this.#sql.lockThreadShared, { threadId: sourceThreadId, now: this.#date() });
      if (!source) return false;
      let lastSeq = source.latest_seq;
      if (upTo !== undefined) {
        const [found] = await tx.select(this.#sql.checkpointSeq, { threadId: sourceThreadId, checkpointId: upTo });
        if (!found) return false;
        lastSeq = found.seq;
      }
      const [dest] = await tx.select(this.#sql.lockThread, { threadId: destThreadId, checkpointId: "" });
      if (dest) {
        if (!expired(dest.expires_at, this.#now())) throw new CheckpointerError("CONFLICT", `thread ${JSON.stringify(destThreadId)} already exists`);
        // An expired destination is invisible: it is cleared out of the way.
        await tx.run(this.#sql.deleteThread, { threadId: destThreadId });
      }
      // A prefix of the history: its bases and text roots are older than its rows, so all copied.
      await tx.run(this.#sql.copyThread, { threadId: destThreadId, sourceThreadId, lastSeq });
      if (lastSeq !== source.latest_seq) await this.#repoint(tx, destThreadId, source.next_seq);
      return true;
    });
  }

  /**
   * Full-text search over each thread's latest text. The database finds the rows (through its
   * full-text index, or within a prefix by primary-key range); the score is the number of times
   * the query's words occur in the thread's text, so it depends on that text alone, never on what
   * other threads (other tenants) hold, as the databases' own relevance does.
   */
  search(query: string, limit: number, prefix: string): Promise<SearchHit[]> {
    return traced(this.#message("search", undefined, undefined), () => this.#search(query, limit, prefix));
  }

  async #search(query: string, limit: number, prefix: string): Promise<SearchHit[]> {
    const terms = queryTerms(query).slice(0, MAX_SEARCH_TERMS);
    if (terms.length === 0) return [];
    const now = this.#date();
    const rows = await (prefix === ""
      ? this.#db.select(this.#sql.search, { query: this.#dialect.searchQuery(terms), now, limit: SEARCH_ROWS })
      : this.#db.select(this.#sql.searchWithin, {
          prefix,
          prefixEnd: prefixEnd(prefix),
          words: terms.join("|"),
          candidates: SEARCH_THREADS,
          now,
          limit: SEARCH_ROWS,
        }));
    const threads = new Map<string, { hit: SearchHit; best: number; updatedAt: number }>();
    for (const row of rows) {
      const score = termScore(row.search_text, terms);
      if (score === 0) continue;
      const found = threads.get(row.thread_id);
      const snippetOf = () => snippet(row.search_text, terms);
      if (!found) {
        const hit = { threadId: row.thread_id, checkpointId: row.checkpoint_id, score, snippet: snippetOf() };
        threads.set(row.thread_id, { hit, best: score, updatedAt: toMs(row.updated_at) });
        continue;
      }
      found.hit.score += score;
      if (score > found.best) [found.best, found.hit.snippet] = [score, snippetOf()];
    }
    return [...threads.values()]
      .sort((a, b) => b.hit.score - a.hit.score || b.updatedAt - a.updatedAt || compareCodePoints(b.hit.threadId, a.hit.threadId))
      .slice(0, limit)
      .map((t) => t.hit);
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  /**
   * Removes checkpoints `doomed` (seqs) of a thread locked by the caller, as `planRemoval` says,
   * so every other one stays loadable and findable: everything the plan reads is read before
   * anything is written. Returns the number removed.
   */
  async #remove(tx: SqlRunner, threadId: string, lock: LockRow, doomed: ReadonlySet<number>): Promise<number> {
    if (doomed.size === 0) return 0;
    const rows = await tx.select(this.#sql.history, { threadId });
    const roots = new Map(rows.map((r) => [r.seq, r.snapshot_seq]));
    const plan = planRemoval(rows.map((r) => ({ seq: r.seq, baseSeq: r.base_seq, textRootSeq: r.text_root_seq })), doomed);
    const documents = new Map<number, Buffer>();
    const texts = new Map<number, string>();
    for (const step of plan.steps) {
      if (step.op === "storeWhole") documents.set(step.seq, this.#assemble(await tx.select(this.#sql.loadBySeq, { threadId, seq: step.seq }), threadId).document);
      if (step.op === "indexWhole") texts.set(step.seq, await this.#wholeText(tx, threadId, step.seq));
    }
    for (const step of plan.steps) {
      if (step.op === "storeWhole") {
        const { data, encoding } = encode(documents.get(step.seq)!);
        await tx.run(this.#sql.storeWhole, { threadId, seq: step.seq, state: data, encoding, oldRoot: roots.get(step.seq) ?? null });
      } else if (step.op === "indexWhole") {
        await tx.run(this.#sql.indexWhole, { threadId, seq: step.seq, searchText: texts.get(step.seq)! });
      } else if (step.op === "moveTextRoot") {
        await tx.run(this.#sql.moveTextRoot, { threadId, from: step.from, to: step.to, after: step.after, upTo: step.upTo });
      } else {
        await tx.run(this.#sql.deleteRange, { threadId, first: step.first, last: step.last });
      }
    }
    if (plan.latestSeq === null) await tx.run(this.#sql.deleteThread, { threadId });
    else if (plan.latestSeq !== lock.latest_seq) await this.#repoint(tx, threadId, lock.next_seq);
    return plan.removed;
  }

  /** Points the thread row at its newest checkpoint (its latest was removed, or a copy stopped early). */
  async #repoint(tx: SqlRunner, threadId: string, nextSeq: number): Promise<void> {
    const [newest] = await tx.select(this.#sql.newestCheckpoint, { threadId });
    if (!newest) return;
    const metadata = parseJson(newest.metadata);
    await tx.run(this.#sql.saveThread, {
      threadId,
      nextSeq,
      latestSeq: newest.seq,
      latestCheckpointId: newest.checkpoint_id,
      parentCheckpointId: newest.parent_checkpoint_id,
      updatedAt: toDate(newest.created_at),
      expiresAt: newest.expires_at === null ? null : toDate(newest.expires_at),
      metadata: JSON.stringify(metadata),
      metadataIndex: metadataIndex(metadata),
    });
  }

  async #inGroups<T>(items: T[], work: (tx: SqlRunner, item: T) => Promise<number>): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < items.length; i += VACUUM_GROUP) {
      deleted += await this.#db.transaction(async (tx) => {
        let n = 0;
        for (const item of items.slice(i, i + VACUUM_GROUP)) n += await work(tx, item);
        return n;
      });
    }
    return deleted;
  }

  #message(operation: CheckpointerOperation, threadId: string | undefined, checkpointId: string | undefined): CheckpointerOperationMessage {
    return { operation, store: this.#dialect.name, threadId, checkpointId };
  }

  #date(): Date {
    return new Date(this.#now());
  }

  #expiry(now: number): Date | null {
    return this.#ttlMs === null ? null : new Date(now + this.#ttlMs);
  }
}

/**
 * Where a delta of the locked latest row starts reading: the latest itself when it is whole, else
 * its chain's first row; 0 (the thread's first row) for a delta without that hint.
 */
const chainStart = (latest: LockRow) => (latest.base_seq === null ? latest.latest_seq : (latest.snapshot_seq ?? 0));

/** A document stored whole: compressed when that is smaller, a chain of its own. */
const wholeOf = (document: Buffer) => ({ ...encode(document), splice: null, chain: snapshotChain(document.length) });

/** The cached document is the locked thread's latest row, unchanged. */
function isPosition(base: RecentCheckpoint<RowPosition>, lock: LockRow): boolean {
  return base.id === lock.latest_checkpoint_id && base.token.seq === lock.latest_seq && lock.row_token !== null && base.token.rowToken.equals(asBuffer(lock.row_token));
}

/**
 * The first string after every string that starts with `prefix`, in code-point order (the order of
 * binary collations): `prefix` ≤ id < the result holds exactly for ids with that prefix. Null when
 * there is none (a prefix of U+10FFFF only).
 */
export function prefixEnd(prefix: string): string | null {
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) return points.join("") + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
  }
  return null;
}

const expired = (expiresAt: StoredTime | null, now: number) => expiresAt !== null && toMs(expiresAt) <= now;
const toMs = (t: StoredTime) => (typeof t === "number" ? t : t.getTime());
const toDate = (t: StoredTime) => (typeof t === "number" ? new Date(t) : t);
const parseJson = (v: StoredJson): Metadata => (typeof v === "string" ? (JSON.parse(v) as Metadata) : v);
/** node:sqlite returns BLOBs as Uint8Array: a Buffer view of the same bytes. */
const asBuffer = (bytes: Buffer | Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

function summary(r: SummaryRow): ThreadSummary {
  return { threadId: r.thread_id, checkpointId: r.checkpoint_id, updatedAt: toDate(r.updated_at), metadata: parseJson(r.metadata) };
}
