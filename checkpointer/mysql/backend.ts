import { createHash } from "node:crypto";
import mysql from "mysql2/promise";
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { CheckpointerError } from "../errors.js";
import { conflict } from "../local-backend.js";
import { snippet } from "../search-text.js";
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
} from "../types.js";
import { canonicalJson } from "../validation.js";
import type { MySQLConfig } from "./config.js";
import { isAccessDenied, isMissingTable, isRetryable, toCheckpointerError } from "./errors.js";
import { MIGRATIONS, SCHEMA_VERSION, migrationsTableSql, recordMigrationSql, renderSchemaSql, tableNames, type TableNames } from "./schema.js";
import { statements, type Statements } from "./sql.js";

const DAY_MS = 86_400_000;
const VACUUM_BATCH = 500;
/** Threads vacuumed per transaction. */
const VACUUM_GROUP = 25;
const TRANSACTION_ATTEMPTS = 4;
/** Room for the statement and the other columns next to the state in one packet. */
const PACKET_OVERHEAD = 64 * 1024;

export interface MySQLBackendOptions {
  /** The clock, in epoch milliseconds (tests move it). */
  now?: () => number;
}

/** The hash of one top-level metadata pair, as stored in `metadata_index`. */
export function metadataPairHash(key: string, value: JsonValue): string {
  return createHash("sha256").update(JSON.stringify([key, canonicalJson(value)])).digest("hex").slice(0, 32);
}

function metadataIndex(metadata: Metadata): string {
  return JSON.stringify(Object.entries(metadata).map(([k, v]) => metadataPairHash(k, v)));
}

export type Row = RowDataPacket & Record<string, unknown>;
export type Param = string | number | Date | Buffer | null;

/**
 * The MySQL storage layer: owns one lazily created pool and every SQL statement, and works on
 * serialised JSON documents. Wrap it with `mysqlCheckpointer()` to get a `Checkpointer<S>`.
 */
export class MySQLBackend implements StorageBackend {
  readonly capabilities: CheckpointerCapabilities = {
    search: true,
    metadataQuery: true,
    vacuum: true,
    branching: true,
    ttl: true,
    listThreads: true,
    listWithMetadata: true,
    persistentCheckpointIds: true,
  };
  readonly config: MySQLConfig;
  readonly tables: TableNames;
  readonly #sql: Statements;
  readonly #now: () => number;
  #pool: Pool | undefined;
  #ready: Promise<void> | undefined;
  #maxAllowedPacket: number | undefined;
  #closed = false;

  constructor(config: MySQLConfig, options: MySQLBackendOptions = {}) {
    this.config = config;
    this.tables = tableNames(config.tablePrefix);
    this.#sql = statements(this.tables);
    this.#now = options.now ?? Date.now;
  }

  /** The pool, created on first use (synchronously, so concurrent first calls share it). */
  get pool(): Pool {
    if (this.#closed) throw new CheckpointerError("UNAVAILABLE", "checkpointer is closed");
    this.#pool ??= mysql.createPool(this.config.poolOptions());
    return this.#pool;
  }

  /**
   * Checks the schema version and creates or migrates the tables when needed. Runs once per
   * backend (concurrent callers share the run); a failed run is retried by the next call.
   * Works with DML-only rights when the tables are already there.
   */
  ensureSchema(): Promise<void> {
    this.#ready ??= this.#migrate().catch((error: unknown) => {
      this.#ready = undefined;
      throw toCheckpointerError(error);
    });
    return this.#ready;
  }

  /** The SQL that creates this backend's tables (what `mysql-init/` holds for the default prefix). */
  schemaSql(): string {
    return renderSchemaSql(this.config.tablePrefix);
  }

  async save(write: CheckpointWrite): Promise<void> {
    await this.ensureSchema();
    const bytes = Buffer.byteLength(write.document) + Buffer.byteLength(write.text);
    const limit = this.#maxAllowedPacket;
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
    await this.transaction(async (conn) => {
      await conn.execute(this.#sql.saveThread, [write.threadId, write.checkpointId, new Date(now), expiresAt, metadata, metadataIndex(write.metadata)]);
      const [inserted] = await conn.execute<ResultSetHeader>(this.#sql.saveCheckpoint, [
        write.document,
        write.text,
        write.threadId,
        checkParent ? 1 : 0,
        write.parentCheckpointId ?? null,
      ]);
      if (inserted.affectedRows === 0) throw conflict(write.threadId, write.parentCheckpointId ?? null);
    });
  }

  async load(threadId: string, checkpointId?: string): Promise<string | null> {
    const rows = await (checkpointId === undefined
      ? this.query(this.#sql.loadLatest, [threadId, this.#date()])
      : this.query(this.#sql.loadById, [threadId, checkpointId, this.#date()]));
    const state = rows[0]?.state as Buffer | undefined;
    return state === undefined ? null : state.toString("utf8");
  }

  async listCheckpoints(threadId: string, limit: number): Promise<string[]> {
    const rows = await this.query(this.#sql.listCheckpoints, [threadId, this.#date(), String(limit)]);
    return rows.map((r) => r.checkpoint_id as string);
  }

  async delete(threadId: string, checkpointId?: string): Promise<boolean> {
    return this.transaction(async (conn) => {
      if (checkpointId === undefined) {
        const [thread] = await conn.execute<ResultSetHeader>(this.#sql.deleteThreadRow, [threadId]);
        const [history] = await conn.execute<ResultSetHeader>(this.#sql.deleteThreadCheckpoints, [threadId]);
        return thread.affectedRows + history.affectedRows > 0;
      }
      const [locked] = await conn.execute<Row[]>(this.#sql.lockThread, [threadId]);
      const latestSeq = locked[0]?.latest_seq as number | undefined;
      const [found] = await conn.execute<Row[]>(this.#sql.checkpointSeq, [threadId, checkpointId]);
      const seq = found[0]?.seq as number | undefined;
      if (seq === undefined) return false;
      await conn.execute(this.#sql.deleteCheckpoint, [threadId, seq]);
      if (seq === latestSeq) await this.#repoint(conn, threadId);
      return true;
    });
  }

  async exists(threadId: string, checkpointId?: string): Promise<boolean> {
    const rows = await (checkpointId === undefined
      ? this.query(this.#sql.threadExists, [threadId, this.#date()])
      : this.query(this.#sql.checkpointExists, [threadId, checkpointId, this.#date()]));
    return rows.length > 0;
  }

  async listThreads(options: ThreadPage): Promise<string[]> {
    const rows = await this.#page(options, [this.#sql.listThreads, this.#sql.listThreadsPrefix, this.#sql.listThreadsAfter]);
    return rows.map((r) => r.thread_id as string);
  }

  /** One page of a listing: `statements` are its queries for all threads, a prefix, and after a cursor. */
  async #page(options: ThreadPage, [all, prefixed, after]: [string, string, string]): Promise<Row[]> {
    const limit = String(options.limit);
    const pattern = likePrefix(options.prefix);
    if (options.cursor !== undefined) {
      const [position] = await this.query(this.#sql.cursorPosition, [options.cursor]);
      if (!position) throw new CheckpointerError("INVALID_INPUT", "cursor names no thread (it may have been deleted)");
      const at = position.updated_at as Date;
      return this.query(after, [pattern, this.#date(), at, at, options.cursor, limit]);
    }
    if (options.prefix === "") return this.query(all, [this.#date(), limit]);
    return this.query(prefixed, [pattern, this.#date(), limit]);
  }

  async getMetadata(threadId: string, checkpointId?: string): Promise<CheckpointInfo | null> {
    const rows = await (checkpointId === undefined
      ? this.query(this.#sql.infoLatest, [threadId, this.#date()])
      : this.query(this.#sql.infoById, [threadId, checkpointId, this.#date()]));
    const row = rows[0];
    if (!row) return null;
    return {
      threadId: row.thread_id as string,
      checkpointId: row.checkpoint_id as string,
      parentCheckpointId: (row.parent_checkpoint_id as string | null) ?? null,
      createdAt: row.created_at as Date,
      metadata: row.metadata as Metadata,
    };
  }

  async queryByMetadata(key: string, value: JsonValue, limit: number): Promise<ThreadSummary[]> {
    const rows = await this.query(this.#sql.queryByMetadata, [metadataPairHash(key, value), this.#date(), String(limit)]);
    // The index matches a 128-bit hash; confirm the value itself so equality stays exact.
    const wanted = canonicalJson(value);
    return rows
      .filter((r) => {
        const metadata = r.metadata as Metadata;
        return Object.hasOwn(metadata, key) && canonicalJson(metadata[key] as JsonValue) === wanted;
      })
      .map(summary);
  }

  async listWithMetadata(options: ThreadPage): Promise<ThreadSummary[]> {
    const sql = this.#sql;
    return (await this.#page(options, [sql.listWithMetadata, sql.listWithMetadataPrefix, sql.listWithMetadataAfter])).map(summary);
  }

  async vacuum(options: { olderThanDays: number; keepLast: number }): Promise<number> {
    await this.ensureSchema();
    const now = this.#date();
    const cutoff = new Date(now.getTime() - options.olderThanDays * DAY_MS);
    let deleted = 0;
    const batch = String(VACUUM_BATCH);
    for (;;) {
      const rows = await this.query(this.#sql.deadThreads, [cutoff, batch, now, batch, batch]);
      deleted += await this.#inGroups(rows, async (conn, row) => {
        const [locked] = await conn.execute<Row[]>(this.#sql.lockDeadThread, [row.thread_id, cutoff, now]);
        if (locked.length === 0) return 0;
        await conn.execute(this.#sql.deleteThreadRow, [row.thread_id]);
        const [history] = await conn.execute<ResultSetHeader>(this.#sql.deleteThreadCheckpoints, [row.thread_id]);
        return history.affectedRows;
      });
      if (rows.length < VACUUM_BATCH) break;
    }
    const keepLast = String(options.keepLast);
    for (;;) {
      const rows = await this.query(this.#sql.deadCheckpoints, [cutoff, keepLast, batch, now, keepLast, batch, batch]);
      // One DELETE per thread, not per checkpoint, up to the newest seq picked in it.
      const upTo = new Map<string, number>();
      for (const row of rows) upTo.set(row.thread_id as string, Math.max(upTo.get(row.thread_id as string) ?? 0, row.seq as number));
      deleted += await this.#inGroups([...upTo], async (conn, [threadId, seq]) => {
        const [result] = await conn.execute<ResultSetHeader>(this.#sql.deleteDeadCheckpoints, [threadId, seq, cutoff, now, threadId]);
        return result.affectedRows;
      });
      if (rows.length < VACUUM_BATCH) break;
    }
    return deleted;
  }

  async copyThread(sourceThreadId: string, destThreadId: string, upTo?: string): Promise<boolean> {
    return this.transaction(async (conn) => {
      const [source] = await conn.execute<Row[]>(this.#sql.lockThreadShared, [sourceThreadId, this.#date()]);
      if (source.length === 0) return false;
      const latestSeq = source[0]!.latest_seq as number;
      let lastSeq = latestSeq;
      if (upTo !== undefined) {
        const [found] = await conn.execute<Row[]>(this.#sql.checkpointSeq, [sourceThreadId, upTo]);
        if (found.length === 0) return false;
        lastSeq = found[0]!.seq as number;
      }
      const [dest] = await conn.execute<Row[]>(this.#sql.lockThreadExpiry, [destThreadId]);
      if (dest[0]) {
        const expiresAt = dest[0].expires_at as Date | null;
        if (expiresAt === null || expiresAt.getTime() > this.#now()) {
          throw new CheckpointerError("CONFLICT", `thread ${JSON.stringify(destThreadId)} already exists`);
        }
        // An expired destination is invisible: clear it out of the way.
        await conn.execute(this.#sql.deleteThreadRow, [destThreadId]);
        await conn.execute(this.#sql.deleteThreadCheckpoints, [destThreadId]);
      }
      await conn.execute(this.#sql.copyThreadRow, [destThreadId, sourceThreadId]);
      await conn.execute(this.#sql.copyCheckpoints, [destThreadId, sourceThreadId, lastSeq]);
      // A copy up to an earlier checkpoint: point the new thread row at it.
      if (lastSeq !== latestSeq) await this.#repoint(conn, destThreadId);
      return true;
    });
  }

  async search(query: string, limit: number, prefix: string): Promise<SearchHit[]> {
    const rows = await (prefix === ""
      ? this.query(this.#sql.search, [query, query, this.#date(), String(limit)])
      : this.query(this.#sql.searchPrefix, [query, query, this.#date(), likePrefix(prefix), String(limit)]));
    return rows
      .map((r) => ({ r, score: Number(r.score), at: (r.updated_at as Date).getTime() }))
      .sort((a, b) => b.score - a.score || b.at - a.at)
      .map(({ r, score }) => ({
        threadId: r.thread_id as string,
        checkpointId: r.checkpoint_id as string,
        score,
        snippet: snippet(r.search_text as string, query),
      }));
  }

  /**
   * Drains the pool; idempotent. Later calls throw `UNAVAILABLE`. A connection attempt still
   * pending holds the drain for at most `connectTimeoutMs`; its failure is no error of close().
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end().catch(() => undefined);
  }

  #date(): Date {
    return new Date(this.#now());
  }

  async #migrate(): Promise<void> {
    const pool = this.pool;
    const [[settings]] = await pool.query<Row[]>("SELECT @@max_allowed_packet AS packet");
    this.#maxAllowedPacket = Number(settings?.packet);
    let version = 0;
    try {
      const [[row]] = await pool.query<Row[]>(this.#sql.schemaVersion);
      version = Number(row?.version ?? 0);
    } catch (error) {
      if (!isMissingTable(error)) throw error;
    }
    if (version >= SCHEMA_VERSION) return;
    const missing = () =>
      new CheckpointerError(
        "SCHEMA",
        `checkpointer tables in database ${this.config.database} are missing or old (schema v${version}, need v${SCHEMA_VERSION}) ` +
          `and user ${this.config.user} cannot create them. Run the SQL in mysql-init/001-checkpointer-schema.sql ` +
          `(or MySQLBackend.schemaSql()) as a user with CREATE rights, or call ensureSchema() as one.`,
      );
    if (!this.config.createTables) throw missing();
    try {
      await pool.query(migrationsTableSql(this.tables));
      for (let v = version + 1; v <= SCHEMA_VERSION; v++) {
        const migration = MIGRATIONS[v - 1]!;
        for (const statement of migration.statements(this.tables)) await pool.query(statement);
        await pool.execute(recordMigrationSql(this.tables), [v, migration.name]);
      }
    } catch (error) {
      if (isAccessDenied(error)) throw missing();
      throw error;
    }
  }

  /** One prepared statement on the pool, after `ensureSchema()`; errors as `CheckpointerError`. */
  async query(sql: string, params: Param[]): Promise<Row[]> {
    const [rows] = await this.#run<Row[]>(sql, params);
    return rows;
  }

  async #run<T extends Row[] | ResultSetHeader>(sql: string, params: Param[]): Promise<[T, unknown]> {
    await this.ensureSchema();
    try {
      return (await this.pool.execute<T>(sql, params)) as [T, unknown];
    } catch (error) {
      throw toCheckpointerError(error, this.#maxAllowedPacket);
    }
  }

  /**
   * Runs `work` in one transaction on one connection, after `ensureSchema()`. Deadlocks and lock
   * wait timeouts roll the whole transaction back, so it is simply run again (a few times).
   * Driver errors come out as `CheckpointerError`. Public for extensions (the LangGraph saver).
   */
  async transaction<T>(work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    await this.ensureSchema();
    for (let attempt = 1; ; attempt++) {
      let conn: PoolConnection;
      try {
        conn = await this.pool.getConnection();
      } catch (error) {
        throw toCheckpointerError(error, this.#maxAllowedPacket);
      }
      let broken = false;
      try {
        await conn.beginTransaction();
        const result = await work(conn);
        await conn.commit();
        return result;
      } catch (error) {
        try {
          await conn.rollback();
        } catch {
          broken = true; // the connection is gone; the server rolled back for us
        }
        if (attempt < TRANSACTION_ATTEMPTS && isRetryable(error)) continue;
        throw toCheckpointerError(error, this.#maxAllowedPacket);
      } finally {
        if (broken) conn.destroy();
        else conn.release();
      }
    }
  }

  /**
   * Vacuum's deletes, a few threads to a transaction: one log flush per group instead of one per
   * thread (what bounded vacuum's speed), while a save waits at most one short group.
   */
  async #inGroups<T>(items: T[], work: (conn: PoolConnection, item: T) => Promise<number>): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < items.length; i += VACUUM_GROUP) {
      deleted += await this.transaction(async (conn) => {
        let n = 0;
        for (const item of items.slice(i, i + VACUUM_GROUP)) n += await work(conn, item);
        return n;
      });
    }
    return deleted;
  }

  async #repoint(conn: PoolConnection, threadId: string): Promise<void> {
    const [rows] = await conn.execute<Row[]>(this.#sql.newestCheckpoint, [threadId]);
    const next = rows[0];
    if (!next) {
      await conn.execute(this.#sql.deleteThreadRow, [threadId]);
      return;
    }
    const metadata = next.metadata as Metadata;
    await conn.execute(this.#sql.repointThread, [
      next.seq,
      next.checkpoint_id,
      next.parent_checkpoint_id,
      next.created_at,
      next.expires_at,
      JSON.stringify(metadata),
      metadataIndex(metadata),
      threadId,
    ]);
  }
}

/** A `LIKE … ESCAPE '!'` pattern matching ids that start with `prefix`, literally. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[!%_]/g, "!$&")}%`;
}

function summary(r: Row): ThreadSummary {
  return { threadId: r.thread_id as string, checkpointId: r.checkpoint_id as string, updatedAt: r.updated_at as Date, metadata: r.metadata as Metadata };
}
