import type { Request, Response } from "express";
import type { TurnEvent } from "../../checkpointer/index.js";

/** True when the client asks for server-sent events rather than JSON (`Accept: text/event-stream`). */
export function wantsEventStream(req: Request): boolean {
  return req.accepts(["application/json", "text/event-stream"]) === "text/event-stream";
}

/**
 * Answers with server-sent events, each with its `id:` (what `Last-Event-ID` names when the client
 * reconnects), until `batches` ends. A client that hangs up aborts `gone`, which stops the reading
 * only: the turn goes on.
 */
export async function sendEvents(res: Response, gone: AbortSignal, batches: AsyncIterable<TurnEvent[]>, headers: Record<string, string> = {}): Promise<void> {
  res.status(200);
  res.set({ "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no", ...headers });
  res.flushHeaders();
  for await (const batch of batches) {
    if (gone.aborted) break;
    // One write per batch: a fast model's tokens go out together, not one socket write each.
    // JSON text has no raw line breaks, so each event's data is one `data:` line.
    res.write(batch.map(({ id, event, data }) => `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join(""));
  }
  res.end();
}

/** A signal that aborts when the client hangs up before the answer is complete. */
export function hangUpSignal(res: Response): AbortSignal {
  const gone = new AbortController();
  res.on("close", () => {
    if (!res.writableEnded) gone.abort(new Error("the client disconnected"));
  });
  return gone.signal;
}
