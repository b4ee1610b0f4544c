// A LangGraph.js checkpoint saver on the module's MySQL database. This folder is the one part of
// checkpointer/ that needs @langchain/langgraph-checkpoint (and @langchain/core): delete it if you do not use LangGraph.
import { randomBytes } from "node:crypto";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  TASKS,
  WRITES_IDX_MAP,
  compareWritesSortKeys,
  getCheckpointId,
  maxChannelVersion,
  writesSortKey,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import { compareCodePoints } from "../backend-shared.js";
import { deltaOf, snapshotChain, type Chain, type Splice } from "../delta.js";
import { CheckpointerError } from "../errors.js";
import { MySQLBackend } from "../mysql/backend.js";
import { MySQLConfig } from "../mysql/config.js";
import { MySQLDatabase } from "../mysql/database.js";
import { RecentCheckpoints, type RecentCheckpoint } from "../recent-checkpoints.js";
import { LANGGRAPH_KEY_LENGTHS as MAX } from "../mysql/schema.js";
import type { Params, SqlRunner, Statement } from "../statement.js";
import { assemble, checkOf, encode, orderChain, type DocumentCheck, type Encoding } from "../stored-document.js";
import { validateKey as key } from "../validation.js";
import {
  CHANNELS_PER_READ,
  ROWS_PER_INSERT,
  channelPairs,
  langGraphStatements,
  numbered,
  type BlobValues,
  type CheckpointRow,
  type LangGraphStatements,
  type Numbered,
  type Selection,
  type ValueRow,
  type WriteRow,
  type WriteValues,
} from "./sql.js";

/**
 * A multi-row INSERT closes once its values reach this many bytes (a larger value goes alone),
 * so batching never builds a packet over max_allowed_packet that single rows would have fit in.
 */
const BATCH_BYTES = 1024 * 1024;
/** MySQL's "no limit"; LIMIT is bound as a string (mysql2 fails on a numeric LIMIT parameter). */
const NO_LIMIT = "18446744073709551615";

export interface MySQLSaverOptions {
  /** Serializer for checkpoints, channel values and writes. Default: LangGraph's JsonPlusSerializer. */
  serde?: SerializerProtocol;
}

export type PruneStrategy = "keep_latest" | "delete";

/** A stored checkpoint without its channel values. */
type CheckpointDocument = Omit<Checkpoint, "channel_values">;

/** A channel value to store: its serialised bytes and their check, and the splice of a recent value of the channel it may be stored as. */
interface DumpedValue {
  channel: string;
  version: string;
  type: string;
  bytes: Buffer;
  check: DocumentCheck;
  base: RecentCheckpoint | undefined;
  /** Set when the delta policy allows storing it as a splice of `base`: the splice, its middle as stored, the chain it ends. */
  delta: { splice: Splice; data: Buffer; encoding: Encoding; chain: Chain } | null;
}

/** A channel value read back: its bytes (its chain applied) and what a later delta of it needs. */
interface LoadedValue {
  version: string;
  type: string;
  bytes: Buffer;
  token: Buffer | null;
  chain: Chain;
}

/**
 * LangGraph.js checkpointer on MySQL 8.0.19+, on the module's `MySQLDatabase`: the same config,
 * pool, error codes and migrations as the MySQL checkpointer. Channel values are stored once per
 * channel and version, so a step writes only the channels that changed, and a changed value is
 * stored as a splice of the channel's previous value where the delta policy allows (a
 * `messages` channel: just the new messages); each `put` is one transaction.
 *
 * @example
 * const checkpointer = MySQLSaver.fromConnString(process.env.MYSQL_URL!);
 * await checkpointer.setup(); // optional: tables are created on first use
 * const graph = workflow.compile({ checkpointer });
 * await graph.invoke(input, { configurable: { thread_id: "user-42" } });
 * await checkpointer.end();
 */
export class MySQLSaver extends BaseCheckpointSaver {
  /** The database (pool, schema, transactions); shared when the saver is built on a `MySQLBackend`'s. */
  readonly database: MySQLDatabase;
  readonly #sql: LangGraphStatements;
  /** Each recently used channel's newest value this process wrote or read: the base of its next delta. */
  readonly #recent = new RecentCheckpoints();

  /** @param on a config (a pool of its own), or a `MySQLBackend` / `MySQLDatabase` whose pool it shares. */
  constructor(on: MySQLConfig | MySQLDatabase | MySQLBackend, options: MySQLSaverOptions = {}) {
    super(options.serde);
    this.database = on instanceof MySQLBackend ? on.database : on instanceof MySQLDatabase ? on : new MySQLDatabase(on);
    this.#sql = langGraphStatements(this.database.tables);
  }

  /**
   * @param url `mysql://user:password@host:3306/database`, with the parameters of `MySQLConfig.fromUrl` (e.g. `?table-prefix=`).
   * @example
   * const checkpointer = MySQLSaver.fromConnString("mysql://app:secret@db:3306/agent");
   */
  static fromConnString(url: string, options?: MySQLSaverOptions): MySQLSaver {
    return new MySQLSaver(MySQLConfig.fromUrl(url), options);
  }

  /** Creates or migrates the tables (the module's shared migrations). Other calls do it on first use too. */
  setup(): Promise<void> {
    return this.database.ensureSchema();
  }

  /** Closes the database's pool (shared with anything else built on the same database). */
  end(): Promise<void> {
    return this.database.close();
  }

  /**
   * Channel versions count up as LangGraph's default does, plus a random fraction. Values are
   * stored once per channel and version, so two forks of one checkpoint (updateState on an old
   * config) must not both write version n+1 of a channel: with plain integers the second fork
   * would read the first one's value, as the PostgreSQL saver does. Python's savers do the same.
   */
  override getNextVersion(current: number | undefined): number {
    return Math.floor(super.getNextVersion(current)) + Math.random();
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const { thread_id, checkpoint_ns } = config.configurable ?? {};
    if (thread_id === undefined || thread_id === null) return undefined;
    const checkpointId = optionalKey(getCheckpointId(config), "checkpoint_id");
    const [row] = await this.#select(this.database, {
      threadId: key(thread_id, "thread_id", MAX.threadId),
      checkpointNs: key(checkpoint_ns ?? "", "checkpoint_ns", MAX.checkpointNs, 0),
      checkpointId,
      before: null,
      filter: null,
      limit: "1",
    });
    return row && this.#tuple(row, true);
  }

  /**
   * Checkpoints newest first (by checkpoint id). `config.configurable` narrows by `thread_id`,
   * `checkpoint_ns` and `checkpoint_id`; `filter` matches metadata by JSON containment (as the
   * PostgreSQL saver's `@>`); `before` keeps ids below its `checkpoint_id`.
   */
  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { thread_id, checkpoint_ns, checkpoint_id } = config.configurable ?? {};
    const { filter, before, limit } = options;
    if (filter !== undefined && filter !== null && (typeof filter !== "object" || Array.isArray(filter))) {
      throw new CheckpointerError("INVALID_INPUT", "list: filter must be an object of metadata values");
    }
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new CheckpointerError("INVALID_INPUT", "list: limit must be a non-negative integer");
    }
    const rows = await this.#select(this.database, {
      threadId: thread_id === undefined || thread_id === null ? null : key(thread_id, "thread_id", MAX.threadId),
      checkpointNs: checkpoint_ns === undefined || checkpoint_ns === null ? null : key(checkpoint_ns, "checkpoint_ns", MAX.checkpointNs, 0),
      checkpointId: optionalKey(checkpoint_id, "checkpoint_id"),
      before: optionalKey(before?.configurable?.checkpoint_id, "before.checkpoint_id"),
      filter: filter && Object.keys(filter).length > 0 ? JSON.stringify(filter) : null,
      limit: limit === undefined ? NO_LIMIT : String(limit),
    });
    for (const row of rows) yield await this.#tuple(row);
  }

  async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    if (config.configurable === undefined) throw new CheckpointerError("INVALID_INPUT", "put: config.configurable is missing");
    const threadId = key(config.configurable.thread_id, "thread_id", MAX.threadId);
    const checkpointNs = key(config.configurable.checkpoint_ns ?? "", "checkpoint_ns", MAX.checkpointNs, 0);
    const parentId = optionalKey(config.configurable.checkpoint_id, "checkpoint_id");
    const checkpointId = key(checkpoint.id, "checkpoint.id", MAX.checkpointId);
    const { channel_values: values, ...document } = checkpoint;
    // Everything is serialised before a connection is taken: CPU work never holds one.
    const [[type, bytes], metadataJson, dumped] = await Promise.all([
      this.serde.dumpsTyped(document),
      this.#metadataJson(metadata),
      this.#dumpValues(threadId, checkpointNs, values, newVersions),
    ]);
    const written = await this.database.transaction(async (tx) => {
      // The checkpoint row first: deleteThread and prune lock it first too.
      await tx.run(this.#sql.upsertCheckpoint, {
        threadId,
        checkpointNs,
        checkpointId,
        parentCheckpointId: parentId,
        type,
        checkpoint: toBuffer(bytes),
        metadata: metadataJson,
      });
      // A splice is stored only if its base is still the very row it was computed from.
      const based = new Map(dumped.filter((v) => v.delta !== null).map((v) => [v.channel, v.base!]));
      const pairs = [...based].map(([channel, base]) => [channel, base.id] as const);
      const live = new Set<string>();
      for (let i = 0; i < pairs.length; i += CHANNELS_PER_READ) {
        for (const r of await tx.select(this.#sql.baseTokens, { threadId, checkpointNs, ...channelPairs(pairs.slice(i, i + CHANNELS_PER_READ)) })) {
          if (r.row_token !== null && based.get(r.channel)?.token.equals(r.row_token)) live.add(r.channel);
        }
      }
      const stored = dumped.map((value) => {
        const delta = live.has(value.channel) ? value.delta : null;
        const token = randomBytes(16);
        const { data, encoding } = delta ?? encode(value.bytes);
        const row: BlobValues = {
          channel: value.channel,
          version: value.version,
          type: value.type,
          data,
          encoding,
          baseVersion: delta ? value.base!.id : null,
          splicePrefix: delta?.splice.prefix ?? null,
          spliceSuffix: delta?.splice.suffix ?? null,
          docBytes: value.check.bytes,
          docCrc32: value.check.crc32,
          rowToken: token,
        };
        return { value, token, chain: delta?.chain ?? snapshotChain(value.bytes.length), row };
      });
      await insertRows(tx, this.#sql.insertBlobs, { threadId, checkpointNs }, stored.map((s) => s.row));
      return stored;
    });
    for (const { value, token, chain } of written) {
      this.#recent.set(channelKey(threadId, checkpointNs, value.channel), { id: value.version, document: value.bytes, text: undefined, chain, token });
    }
    return { configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpointId } };
  }

  /** Stores a task's writes against a checkpoint; `taskPath` is kept for the order of `pendingWrites`. */
  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ""): Promise<void> {
    const threadId = key(config.configurable?.thread_id, "thread_id", MAX.threadId);
    const checkpointNs = key(config.configurable?.checkpoint_ns ?? "", "checkpoint_ns", MAX.checkpointNs, 0);
    const checkpointId = key(config.configurable?.checkpoint_id, "checkpoint_id", MAX.checkpointId);
    key(taskId, "taskId", MAX.taskId);
    if (typeof taskPath !== "string") throw new CheckpointerError("INVALID_INPUT", "putWrites: taskPath must be a string");
    if (writes.length === 0) return;
    const special = writes.every(([channel]) => Object.hasOwn(WRITES_IDX_MAP, channel));
    const rows = await Promise.all(
      writes.map(async ([channel, value], i): Promise<WriteValues> => {
        const [type, bytes] = await this.serde.dumpsTyped(value);
        const idx = Object.hasOwn(WRITES_IDX_MAP, channel) ? WRITES_IDX_MAP[channel]! : i;
        return { idx, channel: key(channel, "channel", MAX.channel), type, data: toBuffer(bytes) };
      }),
    );
    const shared = { threadId, checkpointNs, checkpointId, taskId, taskPath };
    await this.database.transaction((tx) => insertRows(tx, special ? this.#sql.upsertWrites : this.#sql.insertWrites, shared, rows));
  }

  async deleteThread(threadId: string): Promise<void> {
    key(threadId, "threadId", MAX.threadId);
    await this.database.transaction((tx) => tx.run(this.#sql.deleteThread, { threadId }));
  }

  /**
   * Copies every checkpoint, channel value and pending write of a thread to a new thread, in one
   * transaction on the server (nothing is deserialised). A missing source copies nothing.
   * @throws CheckpointerError `CONFLICT` when the target thread already has checkpoints.
   * @example
   * await checkpointer.copyThread("user-42", "user-42-experiment");
   */
  async copyThread(sourceThreadId: string, targetThreadId: string): Promise<void> {
    key(sourceThreadId, "sourceThreadId", MAX.threadId);
    key(targetThreadId, "targetThreadId", MAX.threadId);
    await this.database.transaction(async (tx) => {
      const taken = await tx.select(this.#sql.lockTargetThread, { threadId: targetThreadId });
      if (taken.length > 0) throw new CheckpointerError("CONFLICT", `thread ${JSON.stringify(targetThreadId)} already has checkpoints`);
      await tx.run(this.#sql.copyThread, { threadId: targetThreadId, sourceThreadId });
    });
  }

  /**
   * Frees storage of finished threads. `keep_latest` (the default) keeps only each namespace's
   * latest checkpoint, its pending writes and the channel values it uses, so the thread can still
   * resume; `delete` removes the threads. One short transaction per thread.
   * @example
   * await checkpointer.prune(["user-42"]); // history gone, latest state kept
   */
  async prune(threadIds: string[], options: { strategy?: PruneStrategy } = {}): Promise<void> {
    const strategy = options.strategy ?? "keep_latest";
    if (strategy !== "keep_latest" && strategy !== "delete") {
      throw new CheckpointerError("INVALID_INPUT", 'prune: strategy must be "keep_latest" or "delete"');
    }
    for (const threadId of threadIds) {
      if (strategy === "delete") {
        await this.deleteThread(threadId);
        continue;
      }
      key(threadId, "threadId", MAX.threadId);
      await this.database.transaction(async (tx) => {
        const latest = await tx.select(this.#sql.lockLatestPerNamespace, { threadId });
        for (const { checkpoint_ns: checkpointNs, checkpoint_id: checkpointId } of latest) {
          // Deserialised inside the transaction: the kept versions must be those of the locked row.
          const [row] = await this.#select(tx, { threadId, checkpointNs, checkpointId, before: null, filter: null, limit: "1" });
          const kept = versionPairs((await this.#document(row!)).channel_versions ?? {});
          await tx.run(this.#sql.pruneHistory, { threadId, checkpointNs, checkpointId });
          await this.#materialize(tx, threadId, checkpointNs, kept);
          await tx.run(this.#sql.pruneBlobs, { threadId, checkpointNs, kept: JSON.stringify(kept) });
        }
      });
    }
  }

  /**
   * Stores whole the kept values that are splices (encoded, with their checks), before the rows
   * they are based on go. A chain that does not rebuild its value fails the prune with CORRUPT.
   */
  async #materialize(tx: SqlRunner, threadId: string, checkpointNs: string, pairs: readonly (readonly [string, string])[]): Promise<void> {
    for (let i = 0; i < pairs.length; i += CHANNELS_PER_READ) {
      const rows = await tx.select(this.#sql.selectValues, { threadId, checkpointNs, ...channelPairs(pairs.slice(i, i + CHANNELS_PER_READ)) });
      for (const [channel, value] of assembleValues(rows, threadId, checkpointNs)) {
        if (value.chain.deltas === 0) continue;
        const { bytes: docBytes, crc32: docCrc32 } = checkOf(value.bytes);
        await tx.run(this.#sql.materializeBlob, { threadId, checkpointNs, channel, version: value.version, ...encode(value.bytes), docBytes, docCrc32 });
      }
    }
  }

  /** Checkpoint rows, newest first, through the pool or a transaction's connection. */
  async #select(via: SqlRunner, s: Selection): Promise<CheckpointRow[]> {
    const rows = await via.select(this.#sql.selectCheckpoints, s);
    // The derived table sorted the keys; the join gives no order, so restore it (ids compare by code point, as in MySQL).
    return rows.sort(
      (a, b) =>
        compareCodePoints(b.checkpoint_id, a.checkpoint_id) ||
        compareCodePoints(b.thread_id, a.thread_id) ||
        compareCodePoints(b.checkpoint_ns, a.checkpoint_ns),
    );
  }

  #document(row: CheckpointRow): Promise<CheckpointDocument> {
    return this.serde.loadsTyped(row.type, fromBuffer(row.checkpoint));
  }

  /**
   * A tuple from a checkpoint row: one more round trip for its channel values and pending
   * writes. `remember`: a checkpoint read on its own (getTuple, latest or by id), whose values are
   * the likely bases of the next put's deltas, as a graph resumed on this replica puts next.
   */
  async #tuple(row: CheckpointRow, remember = false): Promise<CheckpointTuple> {
    const { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpointId, parent_checkpoint_id: parentId } = row;
    const document = await this.#document(row);
    const channelVersions = document.channel_versions ?? {};
    const pairs = versionPairs(channelVersions);
    const rows = await this.database.select(this.#sql.selectValuesAndWrites, {
      threadId,
      checkpointNs,
      checkpointId,
      ...channelPairs(pairs.slice(0, CHANNELS_PER_READ)),
    });
    const valueRows = rows.filter((r): r is ValueRow => r.task_id === null);
    for (let i = CHANNELS_PER_READ; i < pairs.length; i += CHANNELS_PER_READ) {
      valueRows.push(...(await this.database.select(this.#sql.selectValues, { threadId, checkpointNs, ...channelPairs(pairs.slice(i, i + CHANNELS_PER_READ)) })));
    }
    const values = assembleValues(valueRows, threadId, checkpointNs);
    const writes = rows.filter((r): r is WriteRow => r.task_id !== null);
    if (remember) this.#remember(threadId, checkpointNs, values);
    const checkpoint: Checkpoint = {
      ...document,
      channel_versions: channelVersions,
      versions_seen: document.versions_seen ?? {},
      // fromEntries defines own properties: a channel named "__proto__" stays a channel.
      channel_values: Object.fromEntries(
        await Promise.all([...values].map(async ([channel, v]) => [channel, await this.serde.loadsTyped(v.type, fromBuffer(v.bytes))])),
      ),
    };
    if (checkpoint.v < 4 && parentId !== null) await this.#migratePendingSends(checkpoint, threadId, checkpointNs, parentId);
    const configFor = (id: string) => ({ configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: id } });
    return {
      config: configFor(checkpointId),
      checkpoint,
      metadata: await this.serde.loadsTyped("json", JSON.stringify(row.metadata)),
      ...(parentId !== null && { parentConfig: configFor(parentId) }),
      pendingWrites: await this.#loadWrites(writes),
    };
  }

  /** Values read with getTuple, as bases of the next deltas (unless this process already holds those rows). */
  #remember(threadId: string, checkpointNs: string, values: Map<string, LoadedValue>): void {
    for (const [channel, { version, bytes, token, chain }] of values) {
      const key = channelKey(threadId, checkpointNs, channel);
      const known = this.#recent.get(key);
      if (token === null || (known?.id === version && known.token.equals(token))) continue;
      this.#recent.set(key, { id: version, document: bytes, text: undefined, chain, token });
    }
  }

  /** Writes in `compareWritesSortKeys` order: (task_path, task_id, idx), by code point. */
  #loadWrites(rows: WriteRow[]): Promise<CheckpointPendingWrite[]> {
    const keyed = rows.map((r) => ({ r, key: writesSortKey(r.task_path, r.task_id, Number(r.idx)) }));
    keyed.sort((a, b) => compareWritesSortKeys(a.key, b.key));
    return Promise.all(
      keyed.map(async ({ r }): Promise<CheckpointPendingWrite> => [r.task_id, r.channel, await this.serde.loadsTyped(r.type, fromBuffer(r.data))]),
    );
  }

  /** Checkpoints before format v4 kept pending sends as TASKS writes of their parent. */
  async #migratePendingSends(checkpoint: Checkpoint, threadId: string, checkpointNs: string, parentId: string): Promise<void> {
    const rows = await this.database.select(this.#sql.selectPendingSends, { threadId, checkpointNs, checkpointId: parentId, channel: TASKS });
    if (rows.length === 0) return;
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_values[TASKS] = (await this.#loadWrites(rows)).map(([, , value]) => value);
    checkpoint.channel_versions[TASKS] = versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }

  /** Metadata as JSON text for the JSON column (the serializer keeps LangChain objects revivable). */
  async #metadataJson(metadata: CheckpointMetadata): Promise<string> {
    const [, bytes] = await this.serde.dumpsTyped(metadata);
    return new TextDecoder().decode(bytes);
  }

  /** The channels whose version is new in this checkpoint and that hold a value, serialised, each with its recent value. */
  async #dumpValues(threadId: string, checkpointNs: string, values: Record<string, unknown>, newVersions: ChannelVersions): Promise<DumpedValue[]> {
    const changed = Object.entries(newVersions).filter(([channel]) => Object.hasOwn(values, channel));
    return Promise.all(
      changed.map(async ([channel, version]): Promise<DumpedValue> => {
        const [type, serialised] = await this.serde.dumpsTyped(values[channel]);
        const bytes = toBuffer(serialised);
        const base = this.#recent.get(channelKey(threadId, checkpointNs, channel));
        const delta = deltaOf(base, bytes);
        return {
          channel: key(channel, "channel", MAX.channel),
          version: key(String(version), "channel version", MAX.version),
          type,
          bytes,
          check: checkOf(bytes),
          base,
          // Compressed here, not in the transaction: CPU work never holds a connection.
          delta: delta && { ...delta, ...encode(delta.splice.middle) },
        };
      }),
    );
  }
}

/** The key of a channel's recent value. */
const channelKey = (threadId: string, checkpointNs: string, channel: string) => JSON.stringify([threadId, checkpointNs, channel]);

/** A checkpoint's (channel, version) pairs, versions as the text the blobs table keys them by. */
const versionPairs = (versions: ChannelVersions): [string, string][] => Object.entries(versions).map(([channel, version]) => [channel, String(version)]);

/**
 * Channel values from the rows of their chains (any order): per channel, its rows put in order
 * by following each row's named base from the version asked for (depth 0) down to a whole
 * value, then rebuilt and checked against the length and CRC-32 its row recorded. A missing
 * base, a splice that does not fit or bytes that do not match throw CORRUPT. A channel with no
 * row at all is a channel without a value (LangGraph versions channels it does not store).
 */
function assembleValues(rows: readonly ValueRow[], threadId: string, checkpointNs: string): Map<string, LoadedValue> {
  const chains = new Map<string, ValueRow[]>();
  for (const row of rows) {
    const chain = chains.get(row.channel);
    if (chain === undefined) chains.set(row.channel, [row]);
    else chain.push(row);
  }
  const values = new Map<string, LoadedValue>();
  for (const [channel, chainRows] of chains) {
    const target = chainRows.find((r) => Number(r.depth) === 0);
    const where = `thread ${JSON.stringify(threadId)}${checkpointNs === "" ? "" : ` namespace ${JSON.stringify(checkpointNs)}`}`;
    const what = `channel ${JSON.stringify(channel)} version ${JSON.stringify(target?.version)} of ${where}`;
    if (target === undefined) throw new CheckpointerError("CORRUPT", `${what} cannot be rebuilt: its row is missing; restore it from a backup`);
    const ordered = orderChain(chainRows, target.version, (r) => r.version, (r) => r.base_version, what);
    const pieces = ordered.map((r) => ({
      data: r.data,
      encoding: Number(r.encoding),
      splice: r.base_version === null ? null : { prefix: Number(r.splice_prefix), suffix: Number(r.splice_suffix) },
      check: r.doc_bytes === null || r.doc_crc32 === null ? null : { bytes: Number(r.doc_bytes), crc32: Number(r.doc_crc32) },
    }));
    const { document: bytes, chain } = assemble(pieces, what);
    values.set(channel, { version: target.version, type: target.type, bytes, token: target.row_token, chain });
  }
  return values;
}

/** A checkpoint id that may be absent ("" counts as absent, as in LangGraph). */
function optionalKey(value: unknown, what: string): string | null {
  return value === undefined || value === null || value === "" ? null : key(value, what, MAX.checkpointId);
}

/** mysql2 binds a Buffer as bytes but a plain Uint8Array as a string. */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The serializer gets back a plain Uint8Array, as it gave one (mysql2 returns a Buffer; no copy). */
function fromBuffer(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * Multi-row INSERTs of at most ROWS_PER_INSERT rows and about BATCH_BYTES of values each:
 * `statements[n - 1]` takes n rows, numbered, after the names all rows share.
 */
async function insertRows<S extends Params, R extends Params>(
  tx: SqlRunner,
  statements: readonly Statement<S & Numbered<R>>[],
  shared: S,
  rows: readonly R[],
): Promise<void> {
  let batch: R[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length > 0) await tx.run(statements[batch.length - 1]!, { ...shared, ...numbered(batch) });
    batch = [];
    bytes = 0;
  };
  for (const row of rows) {
    const size = Object.values(row).reduce((n: number, p) => n + (Buffer.isBuffer(p) ? p.length : 0), 0);
    if (batch.length === ROWS_PER_INSERT || (batch.length > 0 && bytes + size > BATCH_BYTES)) await flush();
    batch.push(row);
    bytes += size;
  }
  await flush();
}
