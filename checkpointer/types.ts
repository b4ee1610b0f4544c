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
  listWithMetadata(options?: { limit?: number }): Promise<ThreadSummary[]>;
  vacuum(options: VacuumOptions): Promise<number>;
  copyThread(sourceThreadId: string, destThreadId: string): Promise<boolean>;
  search(query: string, limit?: number): Promise<SearchHit[]>;
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
  listThreads(options: { limit: number; prefix: string; cursor?: string }): Promise<string[]>;
  getMetadata(threadId: string, checkpointId?: string): Promise<CheckpointInfo | null>;
  queryByMetadata(key: string, value: JsonValue, limit: number): Promise<ThreadSummary[]>;
  listWithMetadata(limit: number): Promise<ThreadSummary[]>;
  vacuum(options: { olderThanDays: number; keepLast: number }): Promise<number>;
  copyThread(sourceThreadId: string, destThreadId: string): Promise<boolean>;
  search(query: string, limit: number): Promise<SearchHit[]>;
  close(): Promise<void>;
}
