// The producer's batching (app/turns/turn-writer.ts) over a turn log that takes 5 ms a write: what
// a slow store does to a fast stream, which a real server cannot be made to show on demand.
import { setImmediate as tick } from "node:timers/promises";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { TurnEvent, TurnLog } from "../../checkpointer/index.js";
import { TurnWriter } from "../../app/turns/turn-writer.js";

function slowLog() {
  const appended: TurnEvent[][] = [];
  const log = {
    append: async (_turnId: string, events: readonly TurnEvent[]) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      appended.push([...events]);
      return { cancelRequested: false, reservedId: (events.at(-1)?.id ?? 0) + 4096 };
    },
    finish: async (_turnId: string, events: readonly TurnEvent[]) => {
      appended.push([...events]);
    },
  } as unknown as TurnLog;
  return { log, appended };
}

describe("TurnWriter", () => {
  it("writes a fast stream in few batches behind a slow store, every event once and in order", async () => {
    const { log, appended } = slowLog();
    const published: number[] = [];
    const writer = new TurnWriter(log, { turnId: "t", reservedId: 4097 }, { leaseMs: 10_000, flushMs: 50, maxBatch: 1024 }, pino({ level: "silent" }), {
      publish: (event) => published.push(event.id),
      onStop: () => {},
    });
    const ids = Array.from({ length: 10_000 }, (_, i) => i + 2);
    for (const id of ids) {
      writer.add({ id, event: "token", data: { text: "x" } });
      if (id % 100 === 0) await tick();
    }
    await writer.finish({ id: 10_002, event: "done", data: {} }, "done");
    // A full batch queues one flush behind the one in flight, not one per event added meanwhile.
    expect(appended.length).toBeLessThan(40);
    expect(appended.flat().map((e) => e.id)).toEqual(ids);
    // Readers here saw every event, in order, though some waited for the store to reserve their ids.
    expect(published).toEqual(ids);
  });
});
