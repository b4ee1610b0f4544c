import type { Chain } from "./delta.js";

/**
 * A stored document as this process last saved or loaded it: the base of the next delta. (A
 * thread's latest checkpoint, or a LangGraph channel's latest value.)
 */
export interface RecentCheckpoint<Token = Buffer> {
  /** The checkpoint id, or the channel version. */
  id: string;
  document: Buffer;
  /** Its search text, when this process computed it (a load does not). */
  text: string | undefined;
  chain: Chain;
  /** What says the stored checkpoint is still this one (MySQL: the row's random token; local stores: its seq). */
  token: Token;
}

/**
 * The newest checkpoint of recently used threads (or value of channels), so a save finds its
 * parent's document without a round trip (it is usually what the caller just loaded). Least
 * recently used keys go first once the documents add up to `maxBytes`.
 */
export class RecentCheckpoints<Token = Buffer> {
  readonly #entries = new Map<string, RecentCheckpoint<Token>>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes = 32 * 1024 * 1024) {
    this.#maxBytes = maxBytes;
  }

  get(threadId: string): RecentCheckpoint<Token> | undefined {
    const entry = this.#entries.get(threadId);
    if (entry) {
      this.#entries.delete(threadId);
      this.#entries.set(threadId, entry);
    }
    return entry;
  }

  /** Whether the key has an entry (without making it recently used). */
  has(threadId: string): boolean {
    return this.#entries.has(threadId);
  }

  set(threadId: string, entry: RecentCheckpoint<Token>): void {
    this.forget(threadId);
    const bytes = size(entry);
    if (bytes > this.#maxBytes) return;
    this.#entries.set(threadId, entry);
    this.#bytes += bytes;
    for (const [oldest, old] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= size(old);
    }
  }

  forget(threadId: string): void {
    const entry = this.#entries.get(threadId);
    if (!entry) return;
    this.#entries.delete(threadId);
    this.#bytes -= size(entry);
  }
}

const size = (entry: RecentCheckpoint<unknown>) => entry.document.length + 2 * (entry.text?.length ?? 0);
