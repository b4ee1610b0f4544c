// The checkpointer's tracing channels (docs/observability.md): what a subscriber receives for
// saves (snapshot, delta, conflict, a retried save), loads and other operations, on SQLite.
import { describe, expect, it } from "vitest";
import { checkpointerChannel, MemoryCheckpointer, type CheckpointerOperationMessage } from "../../checkpointer/index.js";

function record(operations: string[]): { messages: CheckpointerOperationMessage[]; stop: () => void } {
  const messages: CheckpointerOperationMessage[] = [];
  const handlers = {
    start: () => {},
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (m: unknown) => messages.push(m as CheckpointerOperationMessage),
    error: () => {},
  };
  const channels = operations.map((op) => checkpointerChannel(op as never));
  for (const channel of channels) channel.subscribe(handlers);
  return { messages, stop: () => channels.forEach((channel) => channel.unsubscribe(handlers)) };
}

describe("checkpointer tracing channels", () => {
  it("publishes each save's bytes, kind, chain length and conflicts, and each load's chain", async () => {
    const cp = new MemoryCheckpointer<{ messages: { role: string; content: string }[] }>();
    const { messages, stop } = record(["save", "load", "exists"]);
    try {
      const state = { messages: [{ role: "user", content: "x".repeat(2000) }] };
      const first = await cp.save(state, "t1");
      state.messages.push({ role: "assistant", content: "short" });
      const second = await cp.save(state, "t1", { parentCheckpointId: first });
      await expect(cp.save(state, "t1", { parentCheckpointId: first })).rejects.toMatchObject({ code: "CONFLICT" });
      await cp.save(state, "t1", { checkpointId: second, parentCheckpointId: first });
      await cp.load("t1");
      await cp.exists("t1");
      const [snapshot, delta, conflict, retried, load, exists] = messages;
      expect(snapshot).toMatchObject({ operation: "save", store: "sqlite", threadId: "t1", checkpointId: first, kind: "snapshot", chainLength: 0 });
      expect(snapshot!.bytesWritten).toBeGreaterThan(0);
      expect(delta).toMatchObject({ operation: "save", kind: "delta", chainLength: 1 });
      expect(delta!.bytesWritten).toBeLessThan(snapshot!.bytesWritten!);
      expect(conflict).toMatchObject({ operation: "save", conflict: true });
      expect((conflict!.error as { code: string }).code).toBe("CONFLICT");
      expect(retried).toMatchObject({ operation: "save", kind: "none", bytesWritten: 0 });
      expect(load).toMatchObject({ operation: "load", threadId: "t1", checkpointId: second, chainLength: 1 });
      expect(exists).toMatchObject({ operation: "exists", result: true });
    } finally {
      stop();
      await cp.close();
    }
  });

  it("publishes nothing, and has no subscribers, when nobody listens", () => {
    expect(checkpointerChannel("save").hasSubscribers).toBe(false);
  });
});
