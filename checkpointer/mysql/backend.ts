import { createHash, randomBytes } from "node:crypto";
import { allCapabilities, canonicalJson, conflict, metadataMatches, savedBefore, vacuumCutoff } from "../backend-shared.js";
import { appendedText, deltaOf, joinTexts, planRemoval, rebuild, snapshotChain, type Chain } from "../delta.js";
import { CheckpointerError, isCheckpointerError } from "../errors.js";
import { RecentCheckpoints, type RecentCheckpoint } from "../recent-checkpoints.js";
import { snippet } from "../search-text.js";
import type { CheckpointerCapabilities, CheckpointInfo, CheckpointWrite, JsonValue, Metadata, SearchHit, StorageBackend, ThreadPage, ThreadSummary } from "../types.js";
import type { MySQLConfig } from "./config.js";
import { MySQLDatabase } from "./database.js";
import type { Query, SqlRunner } from "./query.js";
import type { TableNames } from "./schema.js";
import { statements, type ChainRow, type Statements, type SummaryRow } from "./sql.js";

const VACUUM_BATCH = 500;
/** Threads vacuumed per transaction. */
const VACUUM_GROUP = 25;
/** Room for the statement and the other columns next to the state in one packet. */
const PACKET_OVERHEAD = 64 * 1024;

export interface MySQLBackendOptions {
  /** The clock, in epoch milliseconds (tests move it). */
  now?: (() => number) | undefined;
}

/** The hash of one top-level metadata pair, as stored in `metadata_index`. */
export function metadataPairHash(key: string, value: JsonValue): string {
  return createHash("sha256").update(JSON.stringify([key, canonicalJson(value)])).digest("hex").slice(0, 32);
}

function metadataIndex(metadata: Metadata): string {
  return JSON.stringify(Object.entries(metadata).map(([k, v]) => metadataPairHash(k, v)));
}

/**
 * The MySQL storage layer: every SQL statement of the checkpointer, on serialised JSON documents.
 * The pool, the migrations and transactions belong to its `MySQLDatabase`, which the LangGraph
 * saver can share. Wrap it with `mysqlCheckpointer()` to get a `Checkpointer<S>`.
 */
export class MySQLBackend implements StorageBackend {
  readonly capabilities: CheckpointerCapabilities = allCapabilities(true);
  readonly database: MySQLDatabase;
  readonly #sql: Statements;
  readonly #now: () => number;
  readonly #recent = new RecentCheckpoints();

  constructor(config: MySQLConfig | MySQLDatabase, options: MySQLBackendOptions = {}) {
    this.database = config instanceof MySQLDatabase ? config : new MySQLDatabase(config);
    this.#sql = statements(this.database.tables);
    this.#now = options.now ?? Date.now;
  }

  get config(): MySQLConfig {
    return this.database.config;
  }

  get tables(): TableNames {
    return this.database.tables;
  }

  /** Creates or migrates the tables now rather than on first use (see `MySQLDatabase.ensureSchema`). */
  ensureSchema(): Promise<void> {
    return this.database.ensureSchema();
  }

  /** The SQL that creates this backend's tables, for a DBA to run when the app's user may not. */
  schemaSql(): string {
    return this.database.schemaSql();
  }

  async save(write: CheckpointWrite): Promise<void> {
    await this.database.ensureSchema();
    const bytes = Buffer.byteLength(write.document) + Buffer.byteLength(write.text);
    const limit = this.database.maxAllowedPacket;
    if (limit !== undefined && bytes + PACKET_OVERHEAD > limit) {
      throw new CheckpointerError(
        "TOO_LARGE",
        `checkpoint is ${bytes} bytes (state and search text); MySQL's max_allowed_packet is ${limit} bytes`,
      );
    }
    const now = this.#now();
    const expiresAt = this.config.ttlSeconds === undefined ? null : new Date(now + this.config.ttlSeconds * 1000);
    const metadata = JSON.stringify(write.metadata);
    const checkParent = write.parentCheckpointId !== undefined;
    // A delta against the parent this process last saw, if the thread has not moved past it.
    const document = Buffer.from(write.document, "utf8");
    const base = this.#baseFor(write);
    const delta = deltaOf(base, document);
    const baseText = base && (base.text ?? (await this.#textOf(write.threadId, base)));
    const appended = baseText === undefined ? null : appendedText(baseText, write.text);
    const text = appended ?? write.text;
    const isAppended = appended === null ? 0 : 1;
    const token = randomBytes(16);
    let chain: Chain = snapshotChain(document.length);
    try {
      await this.database.transaction(async (tx) => {
        chain = snapshotChain(document.length);
        await tx.run(this.#sql.saveThread, [write.threadId, write.checkpointId, new Date(now), expiresAt, metadata, metadataIndex(write.metadata)]);
        if (base && delta) {
          const { splice } = delta;
          const inserted = await tx.run(this.#sql.saveDelta, [splice.middle, text, splice.prefix, splice.suffix, token, isAppended, write.threadId, base.token]);
          if (inserted.affectedRows > 0) {
            chain = delta.chain;
            return;
          }
        }
        const inserted = await tx.run(this.#sql.saveSnapshot, [
          document,
          base?.token ?? null,
          isAppended,
          text,
          write.text,
          token,
          base?.token ?? null,
          isAppended,
          write.threadId,
          checkParent ? 1 : 0,
          write.parentCheckpointId ?? null,
        ]);
        if (inserted.affectedRows === 0) throw conflict(write.threadId, write.parentCheckpointId ?? null);
      });
    } catch (error) {
      // A duplicate id or a lost compare-and-set may be this very save, committed by an earlier
      // try whose connection died during COMMIT: looked up only then, so saves cost no extra read.
      if (!isCheckpointerError(error, "CONFLICT")) throw error;
      const [stored] = await this.database.select(this.#sql.savedCheckpoint, [write.threadId, write.checkpointId]);
      if (!stored) throw error;
      const storedDocument = assemble(await this.database.select(this.#sql.loadStored, [write.threadId, write.checkpointId]))?.document;
      savedBefore(write, { document: storedDocument?.toString("utf8") ?? "", metadata: stored.metadata, parentCheckpointId: stored.parent_checkpoint_id });
      return;
    }
    this.#recent.set(write.threadId, { id: write.checkpointId, document, text: write.text, chain, token });
  }

  /** The recent checkpoint a save can be a delta of: the parent it names, or (naming none) the latest seen. */
  #baseFor(write: CheckpointWrite): RecentCheckpoint | undefined {
    const recent = this.#recent.get(write.threadId);
    if (recent === undefined || write.parentCheckpointId === null) return undefined;
    return write.parentCheckpointId === undefined || write.parentCheckpointId === recent.id ? recent : undefined;
  }

  /**
   * The whole search text of a base this process loaded rather than saved, read so the save
   * indexes only its new lines: one query, far cheaper than indexing the whole conversation again
   * (as every save would when replicas take turns on a thread). Undefined if the row changed.
   */
  async #textOf(threadId: string, base: RecentCheckpoint): Promise<string | undefined> {
    const rows = await this.database.select(this.#sql.textRun, [threadId, base.id]);
    return rows[0]?.row_token?.equals(base.token) ? joinTexts(rows.map((r) => r.search_text)) : undefined;
  }

  async load(threadId: string, checkpointId?: string): Promise<string | null> {
    const rows = await (checkpointId === undefined
      ? this.database.select(this.#sql.loadLatest, [threadId, this.#date()])
      : this.database.select(this.#sql.loadById, [threadId, checkpointId, this.#date()]));
    const assembled = assemble(rows);
    if (assembled === null) return null;
    const { document, chain } = assembled;
    const [first] = rows as [ChainRow, ...ChainRow[]];
    // The latest, as the base of the next save's delta (rows from before deltas have no token).
    const recent = this.#recent.get(threadId);
    const known = recent?.id === first.checkpoint_id && first.row_token !== null && recent.token.equals(first.row_token);
    if (checkpointId === undefined && first.row_token !== null && !known) {
      this.#recent.set(threadId, { id: first.checkpoint_id, document, text: undefined, chain, token: first.row_token });
    }
    return document.toString("utf8");
  }

  async listCheckpoints(threadId: string, limit: number): Promise<string[]> {
    const rows = await this.database.select(this.#sql.listCheckpoints, [threadId, this.#date(), String(limit)]);
    return rows.map((r) => r.checkpoint_id);
  }

  async delete(threadId: string, checkpointId?: string): Promise<boolean> {
    return this.database.transaction(async (tx) => {
      if (checkpointId === undefined) {
        this.#recent.forget(threadId);
        const thread = await tx.run(this.#sql.deleteThreadRow, [threadId]);
        const history = await tx.run(this.#sql.deleteThreadCheckpoints, [threadId]);
        return thread.affectedRows + history.affectedRows > 0;
      }
      const [locked] = await tx.select(this.#sql.lockThread, [threadId]);
      const [found] = await tx.select(this.#sql.checkpointSeq, [threadId, checkpointId]);
      if (found === undefined) return false;
      await this.#remove(tx, threadId, [found.seq]);
      if (found.seq === locked?.latest_seq) await this.#repoint(tx, threadId);
      return true;
    });
  }

  async exists(threadId: string, checkpointId?: string): Promise<boolean> {
    const rows = await (checkpointId === undefined
      ? this.database.select(this.#sql.threadExists, [threadId, this.#date()])
      : this.database.select(this.#sql.checkpointExists, [threadId, checkpointId, this.#date()]));
    return rows.length > 0;
  }

  async listThreads(options: ThreadPage): Promise<string[]> {
    const rows = await this.#page(options, [this.#sql.listThreads, this.#sql.listThreadsPrefix, this.#sql.listThreadsAfter]);
    return rows.map((r) => r.thread_id);
  }

  /** One page of a listing: `statements` are its queries for all threads, a prefix, and after a cursor. */
  async #page<R>(options: ThreadPage, [all, prefixed, after]: [Query<R>, Query<R>, Query<R>]): Promise<R[]> {
    const limit = String(options.limit);
    const pattern = likePrefix(options.prefix);
    if (options.cursor !== undefined) {
      const [position] = await this.database.select(this.#sql.cursorPosition, [options.cursor]);
      if (!position) throw new CheckpointerError("INVALID_INPUT", "cursor names no thread (it may have been deleted)");
      const at = position.updated_at;
      return this.database.select(after, [pattern, this.#date(), at, at, options.cursor, limit]);
    }
    if (options.prefix === "") return this.database.select(all, [this.#date(), limit]);
    return this.database.select(prefixed, [pattern, this.#date(), limit]);
  }

  async getMetadata(threadId: string, checkpointId?: string): Promise<CheckpointInfo | null> {
    const [row] = await (checkpointId === undefined
      ? this.database.select(this.#sql.infoLatest, [threadId, this.#date()])
      : this.database.select(this.#sql.infoById, [threadId, checkpointId, this.#date()]));
    if (!row) return null;
    return {
      threadId: row.thread_id,
      checkpointId: row.checkpoint_id,
      parentCheckpointId: row.parent_checkpoint_id,
      createdAt: row.created_at,
      metadata: row.metadata,
    };
  }

  async queryByMetadata(key: string, value: JsonValue, limit: number): Promise<ThreadSummary[]> {
    const rows = await this.database.select(this.#sql.queryByMetadata, [metadataPairHash(key, value), this.#date(), String(limit)]);
    // The index matches a 128-bit hash; confirm the value itself so equality stays exact.
    return rows.filter((r) => metadataMatches(r.metadata, key, value)).map(summary);
  }

  async listWithMetadata(options: ThreadPage): Promise<ThreadSummary[]> {
    const sql = this.#sql;
    return (await this.#page(options, [sql.listWithMetadata, sql.listWithMetadataPrefix, sql.listWithMetadataAfter])).map(summary);
  }

  async vacuum(options: { olderThanDays: number; keepLast: number }): Promise<number> {
    const now = this.#date();
    const cutoff = new Date(vacuumCutoff(now.getTime(), options.olderThanDays));
    let deleted = 0;
    const batch = String(VACUUM_BATCH);
    for (;;) {
      const rows = await this.database.select(this.#sql.deadThreads, [cutoff, batch, now, batch, batch]);
      deleted += await this.#inGroups(rows, async (tx, { thread_id: threadId }) => {
        const locked = await tx.select(this.#sql.lockDeadThread, [threadId, cutoff, now]);
        if (locked.length === 0) return 0;
        await tx.run(this.#sql.deleteThreadRow, [threadId]);
        const history = await tx.run(this.#sql.deleteThreadCheckpoints, [threadId]);
        return history.affectedRows;
      });
      if (rows.length < VACUUM_BATCH) break;
    }
    const keepLast = String(options.keepLast);
    for (;;) {
      const rows = await this.database.select(this.#sql.deadCheckpoints, [cutoff, keepLast, batch, now, keepLast, batch, batch]);
      // One DELETE per thread, not per checkpoint, up to the newest seq picked in it.
      const upTo = new Map<string, number>();
      for (const row of rows) upTo.set(row.thread_id, Math.max(upTo.get(row.thread_id) ?? 0, row.seq));
      deleted += await this.#inGroups([...upTo], async (tx, [threadId, seq]) => {
        await tx.select(this.#sql.lockThread, [threadId]);
        const dead = await tx.select(this.#sql.deadSeqs, [threadId, seq, cutoff, now, threadId]);
        await this.#remove(tx, threadId, dead.map((r) => r.seq));
        return dead.length;
      });
      if (rows.length < VACUUM_BATCH) break;
    }
    return deleted;
  }

  async copyThread(sourceThreadId: string, destThreadId: string, upTo?: string): Promise<boolean> {
    return this.database.transaction(async (tx) => {
      const [source] = await tx.select(this.#sql.lockThreadShared, [sourceThreadId, this.#date()]);
      if (!source) return false;
      let lastSeq = source.latest_seq;
      if (upTo !== undefined) {
        const [found] = await tx.select(this.#sql.checkpointSeq, [sourceThreadId, upTo]);
        if (!found) return false;
        lastSeq = found.seq;
      }
      const [dest] = await tx.select(this.#sql.lockThreadExpiry, [destThreadId]);
      if (dest) {
        if (dest.expires_at === null || dest.expires_at.getTime() > this.#now()) {
          throw new CheckpointerError("CONFLICT", `thread ${JSON.stringify(destThreadId)} already exists`);
        }
        // An expired destination is invisible: clear it out of the way.
        await tx.run(this.#sql.deleteThreadRow, [destThreadId]);
        await tx.run(this.#sql.deleteThreadCheckpoints, [destThreadId]);
      }
      await tx.run(this.#sql.copyThreadRow, [destThreadId, sourceThreadId]);
      await tx.run(this.#sql.copyCheckpoints, [destThreadId, sourceThreadId, lastSeq]);
      // A copy up to an earlier checkpoint: point the new thread row at it.
      if (lastSeq !== source.latest_seq) await this.#repoint(tx, destThreadId);
      return true;
    });
  }

  async search(query: string, limit: number, prefix: string): Promise<SearchHit[]> {
    const rows = await (prefix === ""
      ? this.database.select(this.#sql.search, [query, query, this.#date(), String(limit)])
      : this.database.select(this.#sql.searchPrefix, [query, query, this.#date(), likePrefix(prefix), String(limit)]));
    return rows
      .map((r) => ({ r, score: Number(r.score) }))
      .sort((a, b) => b.score - a.score || b.r.updated_at.getTime() - a.r.updated_at.getTime())
      .map(({ r, score }) => ({ threadId: r.thread_id, checkpointId: r.checkpoint_id, score, snippet: snippet(r.search_text, query) }));
  }

  /** Closes the database's pool (shared with a LangGraph saver built on the same database). */
  close(): Promise<void> {
    return this.database.close();
  }

  #date(): Date {
    return new Date(this.#now());
  }

  /**
   * Vacuum's deletes, a few threads to a transaction: one log flush per group instead of one per
   * thread (what bounded vacuum's speed), while a save waits at most one short group.
   */
  async #inGroups<T>(items: T[], work: (tx: SqlRunner, item: T) => Promise<number>): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < items.length; i += VACUUM_GROUP) {
      deleted += await this.database.transaction(async (tx) => {
        let n = 0;
        for (const item of items.slice(i, i + VACUUM_GROUP)) n += await work(tx, item);
        return n;
      });
    }
    return deleted;
  }

  /**
   * Deletes checkpoints `seqs` of a thread (locked by the caller) and keeps every other one
   * loadable and findable, as `planRemoval` says. Everything is read before anything is written.
   */
  async #remove(tx: SqlRunner, threadId: string, seqs: number[]): Promise<void> {
    if (seqs.length === 0) return;
    const history = (await tx.select(this.#sql.history, [threadId])).map((r) => ({ seq: r.seq, snapshotSeq: r.snapshot_seq, textRootSeq: r.text_root_seq }));
    const mends = planRemoval(history, new Set(seqs)).map((mend) => ({ ...mend, document: null as Buffer | null, text: "" }));
    for (const mend of mends) {
      const next = mend.next;
      if (next === undefined) continue;
      if (mend.rebuildDocument) mend.document = assemble(await tx.select(this.#sql.chainBySeq, [threadId, next.seq]))?.document ?? null;
      if (mend.rebuildText) {
        const texts = await tx.select(this.#sql.rangeTexts, [threadId, next.textRootSeq, next.seq]);
        mend.text = joinTexts(texts.map((r) => r.search_text));
      }
    }
    for (const { first, last, next, rebuildDocument, rebuildText, document, text } of mends) {
      await tx.run(this.#sql.deleteRange, [threadId, first, last]);
      if (next === undefined) continue;
      if (rebuildDocument) {
        await tx.run(this.#sql.materialize, [document, threadId, next.seq]);
        await tx.run(this.#sql.rebaseChain, [next.seq, threadId, next.snapshotSeq, next.seq]);
      }
      if (rebuildText) {
        await tx.run(this.#sql.setTextRoot, [text, threadId, next.seq]);
        await tx.run(this.#sql.rebaseText, [next.seq, threadId, next.textRootSeq, next.seq]);
      }
    }
  }

  async #repoint(tx: SqlRunner, threadId: string): Promise<void> {
    const [next] = await tx.select(this.#sql.newestCheckpoint, [threadId]);
    if (!next) {
      await tx.run(this.#sql.deleteThreadRow, [threadId]);
      return;
    }
    await tx.run(this.#sql.repointThread, [
      next.seq,
      next.checkpoint_id,
      next.parent_checkpoint_id,
      next.created_at,
      next.expires_at,
      JSON.stringify(next.metadata),
      metadataIndex(next.metadata),
      threadId,
    ]);
  }
}

/** A checkpoint's document and chain from its chain's rows (null for none); a chain that lost its snapshot is an error. */
function assemble(rows: ChainRow[]): { document: Buffer; chain: Chain } | null {
  const [snapshot, ...splices] = rows;
  if (snapshot === undefined) return null;
  if (snapshot.snapshot_seq !== null) {
    throw new CheckpointerError("SCHEMA", `checkpoint ${JSON.stringify(snapshot.checkpoint_id)} cannot be rebuilt: the snapshot its deltas start from is missing`);
  }
  return rebuild(snapshot.state, splices.map((r) => ({ prefix: Number(r.splice_prefix), suffix: Number(r.splice_suffix), middle: r.state })));
}

/** A `LIKE … ESCAPE '!'` pattern matching ids that start with `prefix`, literally. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[!%_]/g, "!$&")}%`;
}

function summary(r: SummaryRow): ThreadSummary {
  return { threadId: r.thread_id, checkpointId: r.checkpoint_id, updatedAt: r.updated_at, metadata: r.metadata };
}
