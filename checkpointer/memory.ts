import { BackendCheckpointer, type CheckpointerOptions } from "./backend-checkpointer.js";
import {
  LocalBackend,
  type LocalBackendOptions,
  type RecordChange,
  type StoredBlob,
  type StoredCheckpoint,
  type ThreadRecord,
  type ThreadStorage,
} from "./local-backend.js";

/** Keeps copies, so a caller mutating an object after `save` cannot change what was stored. */
class MemoryStorage implements ThreadStorage {
  readonly #records = new Map<string, ThreadRecord>();
  /** Blobs by thread, then seq. */
  readonly #blobs = new Map<string, Map<number, StoredBlob>>();

  async read(threadId: string) {
    const record = this.#records.get(threadId);
    return record && structuredClone(record);
  }

  async write(record: ThreadRecord, change: RecordChange) {
    const blobs = this.#blobs.get(record.threadId) ?? new Map<number, StoredBlob>();
    for (const { seq } of change.dropped ?? []) blobs.delete(seq);
    // A copy: a splice's middle is a view that would keep its whole document alive.
    for (const { checkpoint, blob } of change.added ?? []) blobs.set(checkpoint.seq, { document: Buffer.from(blob.document), text: blob.text });
    this.#blobs.set(record.threadId, blobs);
    this.#records.set(record.threadId, structuredClone(record));
  }

  async remove(threadId: string) {
    this.#records.delete(threadId);
    this.#blobs.delete(threadId);
  }

  async readDocument(threadId: string, { seq }: StoredCheckpoint) {
    return this.#blobs.get(threadId)?.get(seq)?.document;
  }

  async readText(threadId: string, { seq }: StoredCheckpoint) {
    return this.#blobs.get(threadId)?.get(seq)?.text;
  }

  async copy(record: ThreadRecord, destThreadId: string) {
    const from = this.#blobs.get(record.threadId);
    const blobs = new Map<number, StoredBlob>();
    for (const { seq } of record.checkpoints) {
      const blob = from?.get(seq);
      if (blob) blobs.set(seq, blob);
    }
    this.#blobs.set(destThreadId, blobs);
    this.#records.set(destThreadId, structuredClone({ ...record, threadId: destThreadId }));
  }

  async records() {
    return [...this.#records.values()];
  }

  async close() {}
}

/**
 * In-process checkpointer for tests and REPLs: the whole contract, nothing survives the process.
 *
 * @example
 * const cp = new MemoryCheckpointer<{ messages: Message[] }>();
 * const id = await cp.save({ messages: [] }, "thread-1");
 */
export class MemoryCheckpointer<S = unknown> extends BackendCheckpointer<S> {
  constructor(options: LocalBackendOptions & CheckpointerOptions<S> = {}) {
    super(new LocalBackend(new MemoryStorage(), { ...options, persistent: false }), options);
  }
}
