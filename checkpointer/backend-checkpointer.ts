import { randomUUID } from "node:crypto";
import { CheckpointerError } from "./errors.js";
import { defaultSearchText } from "./search-text.js";
import { jsonSerializer } from "./serialization.js";
import type {
  Checkpointer,
  CheckpointerCapabilities,
  CheckpointInfo,
  CopyThreadOptions,
  JsonValue,
  ListThreadsOptions,
  SaveOptions,
  SearchHit,
  SearchOptions,
  Serializer,
  StorageBackend,
  ThreadPage,
  ThreadSummary,
  VacuumOptions,
} from "./types.js";
import {
  validateId,
  validateJsonValue,
  validateLimit,
  validateMetadata,
  validateMetadataKey,
  validateNonNegativeNumber,
  validateOptionalId,
  validateOptions,
  validatePrefix,
  validateQuery,
  toWellFormed,
} from "./validation.js";

export interface CheckpointerOptions<S> {
  /** How states become stored text; strict JSON by default. */
  serializer?: Serializer<S> | undefined;
  /** The text full-text search indexes; `messages[].content` by default. */
  searchText?: ((state: S) => string) | undefined;
}

/**
 * A `Checkpointer<S>` over any `StorageBackend`: validates every argument, serialises the state
 * before the backend is touched, refuses capabilities the backend does not have, and after
 * `close()` refuses every call with `UNAVAILABLE`, whatever the backend.
 */
export class BackendCheckpointer<S = unknown> implements Checkpointer<S> {
  readonly #store: StorageBackend;
  readonly #serializer: Serializer<S>;
  readonly #searchText: (state: S) => string;
  #closed = false;

  constructor(backend: StorageBackend, options: CheckpointerOptions<S> = {}) {
    this.#store = backend;
    this.#serializer = options.serializer ?? jsonSerializer<S>();
    this.#searchText = options.searchText ?? defaultSearchText;
  }

  get capabilities(): CheckpointerCapabilities {
    return { ...this.#store.capabilities };
  }

  /** The storage backend, for backend-specific operations (e.g. `MySQLBackend.ensureSchema()`). */
  get backend(): StorageBackend {
    return this.#store;
  }

  /** The backend for a call: every method reaches it through here, so a closed checkpointer refuses them all. */
  get #backend(): StorageBackend {
    if (this.#closed) throw new CheckpointerError("UNAVAILABLE", "checkpointer is closed");
    return this.#store;
  }

  async save(state: S, threadId: string, saveOptions?: SaveOptions): Promise<string> {
    validateId(threadId);
    const options = validateOptions(saveOptions);
    const checkpointId = validateOptionalId(options.checkpointId, "checkpointId") ?? randomUUID();
    const parent = options.parentCheckpointId;
    if (parent !== undefined && parent !== null) validateId(parent, "parentCheckpointId");
    const metadata = validateMetadata(options.metadata);
    const document = this.#serializer.serialize(state);
    let text: string;
    try {
      text = this.#searchText(state);
    } catch (error) {
      throw new CheckpointerError("INVALID_INPUT", `searchText failed: ${(error as Error).message}`);
    }
    if (typeof text !== "string") throw new CheckpointerError("INVALID_INPUT", "searchText must return a string");
    await this.#backend.save({
      threadId,
      checkpointId,
      ...(parent !== undefined && { parentCheckpointId: parent }),
      metadata,
      document,
      text: toWellFormed(text),
    });
    return checkpointId;
  }

  async load(threadId: string, checkpointId?: string): Promise<S | null> {
    validateId(threadId);
    validateOptionalId(checkpointId, "checkpointId");
    const document = await this.#backend.load(threadId, checkpointId);
    return document === null ? null : this.#serializer.deserialize(document);
  }

  async listCheckpoints(threadId: string, limit?: number): Promise<string[]> {
    validateId(threadId);
    return this.#backend.listCheckpoints(threadId, validateLimit(limit, 10));
  }

  async delete(threadId: string, checkpointId?: string): Promise<boolean> {
    validateId(threadId);
    validateOptionalId(checkpointId, "checkpointId");
    return this.#backend.delete(threadId, checkpointId);
  }

  async exists(threadId: string, checkpointId?: string): Promise<boolean> {
    validateId(threadId);
    validateOptionalId(checkpointId, "checkpointId");
    return this.#backend.exists(threadId, checkpointId);
  }

  async listThreads(listOptions?: ListThreadsOptions): Promise<string[]> {
    this.#require("listThreads");
    return this.#backend.listThreads(validatePage(listOptions));
  }

  async getMetadata(threadId: string, checkpointId?: string): Promise<CheckpointInfo | null> {
    validateId(threadId);
    validateOptionalId(checkpointId, "checkpointId");
    return this.#backend.getMetadata(threadId, checkpointId);
  }

  async queryByMetadata(key: string, value: JsonValue, limit?: number): Promise<ThreadSummary[]> {
    this.#require("metadataQuery");
    return this.#backend.queryByMetadata(
      validateMetadataKey(key),
      validateJsonValue(value, "metadata value"),
      validateLimit(limit, 100),
    );
  }

  async listWithMetadata(listOptions?: ListThreadsOptions): Promise<ThreadSummary[]> {
    this.#require("listWithMetadata");
    return this.#backend.listWithMetadata(validatePage(listOptions));
  }

  async vacuum(vacuumOptions: VacuumOptions): Promise<number> {
    this.#require("vacuum");
    const options = validateOptions<VacuumOptions>(vacuumOptions);
    return this.#backend.vacuum({
      olderThanDays: validateNonNegativeNumber(options.olderThanDays, "olderThanDays"),
      keepLast: options.keepLast === undefined ? 1 : Math.max(1, validateNonNegativeNumber(options.keepLast, "keepLast", true)),
    });
  }

  async copyThread(sourceThreadId: string, destThreadId: string, copyOptions?: CopyThreadOptions): Promise<boolean> {
    this.#require("branching");
    validateId(sourceThreadId, "sourceThreadId");
    validateId(destThreadId, "destThreadId");
    const upTo = validateOptionalId(validateOptions(copyOptions).checkpointId, "checkpointId");
    if (sourceThreadId === destThreadId) {
      throw new CheckpointerError("INVALID_INPUT", "sourceThreadId and destThreadId must differ");
    }
    return this.#backend.copyThread(sourceThreadId, destThreadId, upTo);
  }

  async search(query: string, limit?: number, searchOptions?: SearchOptions): Promise<SearchHit[]> {
    this.#require("search");
    return this.#backend.search(validateQuery(query), validateLimit(limit, 10), validatePrefix(validateOptions(searchOptions).prefix));
  }

  /** Releases the backend (its pool, its pending writes); idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#store.close();
  }

  #require(capability: keyof CheckpointerCapabilities): void {
    if (!this.#backend.capabilities[capability]) {
      throw new CheckpointerError("UNSUPPORTED", `this checkpointer does not support ${capability}`);
    }
  }
}

/** A listing's options as backends take them: 100 threads by default, prefix "" for all. */
function validatePage(listOptions: ListThreadsOptions | undefined): ThreadPage {
  const options = validateOptions(listOptions);
  return {
    limit: validateLimit(options.limit, 100),
    prefix: validatePrefix(options.prefix),
    ...(options.cursor !== undefined && { cursor: validateId(options.cursor, "cursor") }),
  };
}
