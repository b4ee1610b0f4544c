/** JSON value as stored in metadata. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type Metadata = Record<string, JsonValue>;

/** What a checkpointer can do beyond save/load/listCheckpoints/delete/exists. */
export interface CheckpointerCapabilities {
  search: boolean;
  metadataQuery: boolean;
  vacuum: boolean;
  branching: boolean;
  ttl: boolean;
  listThreads: boolean;
  listWithMetadata: boolean;
  /** Checkpoint ids survive a restart of the process. */
  persistentCheckpointIds: boolean;
}

export interface SaveOptions {
  /** Id for the new checkpoint; a random UUID when absent. Must be new in this thread. */
  checkpointId?: string;
  metadata?: Metadata;
  /**
   * Compare-and-set: the checkpoint this save was based on. When the thread's latest checkpoint
   * is not this id the save throws `CONFLICT` and writes nothing. `null` means "the thread must
   * not exist yet". `undefined` (the default) saves unconditionally.
   */
  parentCheckpointId?: string | null;
}

export interface CheckpointInfo {
  threadId: string;
  checkpointId: string;
  /** The thread's latest checkpoint when this one was saved. */
  parentCheckpointId: string | null;
  createdAt: Date;
  metadata: Metadata;
}

export interface ThreadSummary {
  threadId: string;
  checkpointId: string;
  updatedAt: Date;
  metadata: Metadata;
}

export interface SearchHit {
  threadId: string;
  checkpointId: string;
  /** Relevance; higher is better. Comparable within one result list only. */
  score: number;
  snippet: string;
}

export interface ListThreadsOptions {
  limit?: number;
  /** Literal prefix: `%`, `_` and `\` are ordinary characters. */
  prefix?: string;
  /** The last thread id of the previous page. */
  cursor?: string;
}

export interface CopyThreadOptions {
  /**
   * Copy the history up to and including this checkpoint, which becomes the copy's latest
   * (branching from an earlier point). `copyThread` returns false when the source has no such checkpoint.
   */
  checkpointId?: string;
}

export interface SearchOptions {
  /** Only threads whose id starts with this literal prefix (as in `listThreads`). */
  prefix?: string;
}

export interface VacuumOptions {
  olderThanDays: number;
  /** In live threads, keep at least this many newest checkpoints (the latest is always kept). */
  keepLast?: number;
}

/** The contract every checkpointer implements. `S` is the state type: any JSON-serialisable value. */
export interface Checkpointer<S = unknown> {
  readonly capabilities: CheckpointerCapabilities;
  save(state: S, threadId: string, options?: SaveOptions): Promise<string>;
  load(threadId: string, checkpointId?: string): Promise<S | null>;
  listCheckpoints(threadId: string, limit?: number): Promise<string[]>;
  delete(threadId: string, checkpointId?: string): Promise<boolean>;
  exists(threadId: string, checkpointId?: string): Promise<boolean>;
  listThreads(options?: ListThreadsOptions): Promise<string[]>;
  getMetadata(threadId: string, checkpointId?: string): Promise<CheckpointInfo | null>;
  queryByMetadata(key: string, value: JsonValue, limit?: number): Promise<ThreadSummary[]>;
  listWithMetadata(options?: ListThreadsOptions): Promise<ThreadSummary[]>;
  vacuum(options: VacuumOptions): Promise<number>;
  copyThread(sourceThreadId: string, destThreadId: string, options?: CopyThreadOptions): Promise<boolean>;
  search(query: string, limit?: number, options?: SearchOptions): Promise<SearchHit[]>;
  close(): Promise<void>;
}

/** Turns states into the JSON text a backend stores, and back. */
export interface Serializer<S> {
  serialize(state: S): string;
  deserialize(text: string): S;
}

/**
 * A new checkpoint as a storage backend receives it: ids validated, state already
 * serialised (so no CPU work happens while a pooled connection is held).
 */
export interface CheckpointWrite {
  threadId: string;
  checkpointId: string;
  parentCheckpointId?: string | null;
  metadata: Metadata;
  /** The serialised state. */
  document: string;
  /** Text for full-text search. */
  text: string;
}

/** A validated page request of a thread listing, as a backend receives it. */
export interface ThreadPage {
  limit: number;
  /** "" for every thread. */
  prefix: string;
  cursor?: string;
}

/**
 * The storage layer behind a checkpointer: it works on JSON documents (strings), never on `S`.
 * Inputs arrive validated by `BackendCheckpointer`.
 */
export interface StorageBackend {
  readonly capabilities: CheckpointerCapabilities;
  save(write: CheckpointWrite): Promise<void>;
  load(threadId: string, checkpointId?: string): Promise<string | null>;
  listCheckpoints(threadId: string, limit: number): Promise<string[]>;
  delete(threadId: string, checkpointId?: string): Promise<boolean>;
  exists(threadId: string, checkpointId?: string): Promise<boolean>;
  listThreads(options: ThreadPage): Promise<string[]>;
  getMetadata(threadId: string, checkpointId?: string): Promise<CheckpointInfo | null>;
  queryByMetadata(key: string, value: JsonValue, limit: number): Promise<ThreadSummary[]>;
  listWithMetadata(options: ThreadPage): Promise<ThreadSummary[]>;
  vacuum(options: { olderThanDays: number; keepLast: number }): Promise<number>;
  /** `upTo`: the last checkpoint to copy (the whole history without it); false when the source has no such checkpoint. */
  copyThread(sourceThreadId: string, destThreadId: string, upTo?: string): Promise<boolean>;
  /** `prefix` is "" for every thread. */
  search(query: string, limit: number, prefix: string): Promise<SearchHit[]>;
  close(): Promise<void>;
}
