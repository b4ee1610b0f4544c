import type { CompleteOptions, ModelReply, ModelRequest } from "../../../app/models/model.js";
import { DemoModel } from "../../../app/models/demo.js";

export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The demo model with a hook before each answer: tests use it to hold a turn mid-flight
 * (between its load and its save) or to let "another replica" write meanwhile.
 */
export class HookedModel extends DemoModel {
  calls = 0;
  readonly #before: (call: number, request: ModelRequest) => Promise<void> | void;

  constructor(before: (call: number, request: ModelRequest) => Promise<void> | void) {
    super();
    this.#before = before;
  }

  override async complete(request: ModelRequest, options?: CompleteOptions): Promise<ModelReply> {
    this.calls++;
    await this.#before(this.calls, request);
    return super.complete(request, options);
  }
}

/** The demo model, counting the calls that ended because their signal was aborted (a client hung up). */
export class CancellableModel extends DemoModel {
  cancelled = 0;

  override async complete(request: ModelRequest, options?: CompleteOptions): Promise<ModelReply> {
    try {
      return await super.complete(request, options);
    } catch (error) {
      if (options?.signal?.aborted) this.cancelled++;
      throw error;
    }
  }
}
