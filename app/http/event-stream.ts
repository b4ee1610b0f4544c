import type { Request, Response } from "express";
import type { Logger } from "pino";
import type { TurnObserver } from "../agent/loop.js";
import { errorResponse } from "./errors.js";

/** True when the client asks for server-sent events rather than JSON (`Accept: text/event-stream`). */
export function wantsEventStream(req: Request): boolean {
  return req.accepts(["application/json", "text/event-stream"]) === "text/event-stream";
}

/**
 * Answers with server-sent events while `run` works: `token` and `tool` events from the observer
 * it is given, then `done` with what it returned, or `error` with `{ error: { code, message } }`.
 * A client that hangs up aborts the observer's signal, which cancels the work; nothing more is sent.
 */
export async function streamEvents(req: Request, res: Response, logger: Logger, run: (observer: TurnObserver) => Promise<object>): Promise<void> {
  const gone = new AbortController();
  res.on("close", () => {
    if (!res.writableEnded) gone.abort(new Error("the client disconnected"));
  });
  res.status(200);
  res.set({ "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" });
  res.flushHeaders();
  // JSON text has no raw line breaks, so each event's data is one `data:` line.
  const send = (event: string, data: object) => {
    if (!gone.signal.aborted) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  try {
    const result = await run({ signal: gone.signal, onToken: (text) => send("token", { text }), onTool: (step) => send("tool", step) });
    send("done", result);
  } catch (error) {
    if (gone.signal.aborted) return; // nobody is listening, and the turn was not saved
    send("error", errorResponse(error, req, logger).body);
  }
  res.end();
}
