// LiveTurn, the producing replica's in-memory view of a running turn: its readers get every event
// once and in order, a fast producer's events in batches (one socket write each), the final event
// without waiting, and a reader whose client hangs up stops waiting at once.
import { setImmediate as nextMacrotask } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { TurnEvent } from "../../checkpointer/index.js";
import { LiveTurn } from "../../app/turns/live-turn.js";

const token = (id: number): TurnEvent => ({ id, event: "token", data: { text: `t${id} ` } });
const done = (id: number): TurnEvent => ({ id, event: "done", data: {} });

async function read(live: LiveTurn, afterId: number, signal = new AbortController().signal): Promise<TurnEvent[][]> {
  const batches: TurnEvent[][] = [];
  for await (const batch of live.after(afterId, signal)) batches.push(batch);
  return batches;
}

describe("LiveTurn", () => {
  it("hands a fast producer's events to its readers in batches, each event once and in order, then the final one", async () => {
    const live = new LiveTurn("turn", "thread");
    const readers = [read(live, 0), read(live, 0)];
    // As a model that streams as fast as it can: one token per turn of the event loop.
    for (let id = 1; id <= 500; id++) {
      live.push(token(id));
      await nextMacrotask();
    }
    live.push(done(501), true);
    for (const batches of await Promise.all(readers)) {
      expect(batches.flat().map((e) => e.id)).toEqual(Array.from({ length: 501 }, (_, i) => i + 1));
      // Woken once per millisecond at most, not per event.
      expect(batches.length).toBeLessThan(250);
    }
  });

  it("gives a reader that comes after the end the events after its id, or only the final event", async () => {
    const live = new LiveTurn("turn", "thread");
    for (let id = 1; id <= 3; id++) live.push(token(id));
    live.push(done(4), true);
    expect((await read(live, 2)).flat().map((e) => e.id)).toEqual([3, 4]);
    expect((await read(live, 9)).flat().map((e) => e.id)).toEqual([4]);
  });

  it("ends a waiting reader as soon as its signal aborts, while the turn goes on", async () => {
    const live = new LiveTurn("turn", "thread");
    live.push(token(1));
    const gone = new AbortController();
    const reader = read(live, 0, gone.signal);
    await nextMacrotask();
    gone.abort();
    expect((await reader).flat().map((e) => e.id)).toEqual([1]);
    expect(live.ended).toBe(false);
  });
});
