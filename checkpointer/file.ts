import { createHash, randomUUID } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, unlink, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { BackendCheckpointer, type CheckpointerOptions } from "./backend-checkpointer.js";
import { CheckpointerError } from "./errors.js";
import { LocalBackend, type LocalBackendOptions, type RecordChange, type StoredCheckpoint, type ThreadRecord, type ThreadStorage } from "./local-backend.js";

/**
 * Layout: `<dir>/threads/<sha256 of thread id>/index.json` holds the thread's history; beside it
 * each checkpoint's state is `<seq>.json` (a snapshot) or `<seq>.delta` (the middle bytes of a
 * splice of its parent, whose lengths index.json holds), and its search text is `<seq>.txt` (the
 * whole text, or the lines it adds). Names are hashes so any Unicode id is safe on any
 * filesystem, case-insensitive ones included.
 */
class FileStorage implements ThreadStorage {
  readonly #threads: string;
  readonly #trash: string;
  readonly #ready: Promise<unknown>;

  constructor(directory: string) {
    this.#threads = join(directory, "threads");
    this.#trash = join(directory, "trash");
    this.#ready = Promise.all([mkdir(this.#threads, { recursive: true }), mkdir(this.#trash, { recursive: true })]);
  }

  async read(threadId: string): Promise<ThreadRecord | undefined> {
    await this.#ready;
    return readRecord(join(this.#dir(threadId), "index.json"));
  }

  async write(record: ThreadRecord, change: RecordChange) {
    await this.#ready;
    const dir = this.#dir(record.threadId);
    await mkdir(dir, { recursive: true });
    // Blobs first, index last: until the index names a checkpoint it does not exist.
    for (const { checkpoint, blob } of change.added ?? []) {
      await writeAtomic(join(dir, documentFile(checkpoint)), blob.document);
      await writeAtomic(join(dir, textFile(checkpoint)), blob.text);
    }
    await writeAtomic(join(dir, "index.json"), JSON.stringify(record));
    for (const checkpoint of change.dropped ?? []) {
      await Promise.all([documentFile(checkpoint), textFile(checkpoint)].map((f) => unlink(join(dir, f)).catch(ignoreMissing)));
    }
  }

  async remove(threadId: string) {
    await this.#ready;
    // A rename makes the whole thread vanish at once; the files are removed after.
    const doomed = join(this.#trash, `${hashId(threadId)}-${randomUUID()}`);
    try {
      await rename(this.#dir(threadId), doomed);
    } catch (error) {
      ignoreMissing(error);
      return;
    }
    await rm(doomed, { recursive: true, force: true });
  }

  async readDocument(threadId: string, checkpoint: StoredCheckpoint): Promise<Buffer | undefined> {
    await this.#ready;
    return readFile(join(this.#dir(threadId), documentFile(checkpoint))).catch(ignoreMissing);
  }

  async readText(threadId: string, checkpoint: StoredCheckpoint): Promise<string | undefined> {
    await this.#ready;
    return readFile(join(this.#dir(threadId), textFile(checkpoint)), "utf8").catch(ignoreMissing);
  }

  async copy(record: ThreadRecord, destThreadId: string) {
    await this.#ready;
    const from = this.#dir(record.threadId);
    const to = this.#dir(destThreadId);
    await rm(to, { recursive: true, force: true });
    await mkdir(to, { recursive: true });
    for (const checkpoint of record.checkpoints) {
      for (const f of [documentFile(checkpoint), textFile(checkpoint)]) await copyFile(join(from, f), join(to, f));
    }
    await writeAtomic(join(to, "index.json"), JSON.stringify({ ...record, threadId: destThreadId }));
  }

  async records(): Promise<ThreadRecord[]> {
    await this.#ready;
    const names = await readdir(this.#threads);
    const records = await Promise.all(names.map((name) => readRecord(join(this.#threads, name, "index.json"))));
    return records.filter((r): r is ThreadRecord => r !== undefined);
  }

  async close() {}

  #dir(threadId: string): string {
    return join(this.#threads, hashId(threadId));
  }
}

const documentFile = (c: StoredCheckpoint) => (c.snapshotSeq === undefined ? `${c.seq}.json` : `${c.seq}.delta`);
const textFile = (c: StoredCheckpoint) => `${c.seq}.txt`;

function hashId(threadId: string): string {
  return createHash("sha256").update(threadId, "utf8").digest("hex");
}

/** A thread's index, or undefined when the thread has none. A damaged index is `SCHEMA`, naming the file. */
async function readRecord(path: string): Promise<ThreadRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    ignoreMissing(error);
    return undefined;
  }
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw corrupt(path, (error as Error).message);
  }
  const r = record as Partial<ThreadRecord> | null;
  if (typeof r?.threadId !== "string" || typeof r.nextSeq !== "number" || !Array.isArray(r.checkpoints) || r.checkpoints.length === 0) {
    throw corrupt(path, "not a thread index (threadId, nextSeq and a non-empty checkpoints list)");
  }
  return r as ThreadRecord;
}

function corrupt(path: string, why: string): CheckpointerError {
  return new CheckpointerError("SCHEMA", `file checkpointer: ${path} is damaged (${why}); restore it from a backup or delete its thread folder`);
}

/** Write to a temporary file, fsync, rename over the target, fsync the folder: never a torn file. */
async function writeAtomic(path: string, data: string | Buffer): Promise<void> {
  const temporary = `${path}.${randomUUID()}.tmp`;
  const handle = await open(temporary, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  await syncDirectory(join(path, ".."));
}

async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot fsync a directory; the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}

function ignoreMissing(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  return undefined;
}

/**
 * JSON files in a directory: the embedded default for one machine and one process. Every write
 * replaces files atomically, so a crash never leaves a torn checkpoint.
 *
 * @example
 * const cp = new FileCheckpointer({ directory: "./data" });
 */
export class FileCheckpointer<S = unknown> extends BackendCheckpointer<S> {
  constructor(options: { directory: string } & LocalBackendOptions & CheckpointerOptions<S>) {
    super(new LocalBackend(new FileStorage(options.directory), { ...options, persistent: true }), options);
  }
}
