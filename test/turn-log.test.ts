// The turn log (checkpointer/turn-log.ts) on every store the app runs on: memory, SQLite in a
// file, MySQL on a real server. The app's resumable streams and idempotent turns rest on it.
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MySQLBackend, RESERVED_IDS, SQLiteBackend, type BackendCheckpointer, type Checkpointer, type TurnLog } from "../checkpointer/index.js";
import { caught } from "./support/caught.js";
import { APP_STORES } from "./app/support/stores.js";

const LEASE_MS = 60_000;
const token = (id: number, text: string) => ({ id, event: "token", data: { text } });
const done = (id: number) => ({ id, event: "done", data: { reply: "ok" } });

function turnLogOf(checkpointer: Checkpointer<unknown>): TurnLog {
  const backend = (checkpointer as BackendCheckpointer<unknown>).backend;
  if (backend instanceof MySQLBackend || backend instanceof SQLiteBackend) return backend.turnLog;
  throw new Error("no turn log");
}

describe.each(APP_STORES)("turn log: $name", (store) => {
  const reason = store.skip();
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });
  const open = async () => {
    const { checkpointer, cleanup } = await store.open();
    cleanups.push(cleanup);
    return turnLogOf(checkpointer);
  };

  it.skipIf(reason)("stores a turn's events in batches, in order, and ends it once", async () => {
    const log = await open();
    const claim = await log.begin("thread-1", LEASE_MS);
    expect(claim.kind).toBe("run");
    if (claim.kind !== "run") return;
    const { turnId } = claim.turn;
    expect(claim.turn).toMatchObject({ threadId: "thread-1", status: "running", lastId: 1, leaseLapsed: false, outcome: null });

    await log.append(turnId, [token(2, "a "), token(3, "b ")], LEASE_MS);
    await log.append(turnId, [], LEASE_MS); // a renewal only
    await log.append(turnId, [token(4, "c")], LEASE_MS);
    expect((await log.events(turnId, 0)).map((e) => e.id)).toEqual([2, 3, 4]);
    expect(await log.events(turnId, 2)).toEqual([token(3, "b "), token(4, "c")]);

    // An id that skips or repeats one is a bug of the caller, and nothing is written.
    await expect(log.append(turnId, [token(6, "x")], LEASE_MS)).rejects.toThrow(TypeError);
    await expect(log.append(turnId, [token(4, "x")], LEASE_MS)).rejects.toThrow(TypeError);
    expect((await log.events(turnId, 0)).map((e) => e.id)).toEqual([2, 3, 4]);

    // Ids that do not follow the last stored one end nothing.
    await expect(log.finish(turnId, [token(6, "d")], done(7), "done")).rejects.toThrow(TypeError);
    await expect(log.finish(turnId, [], done(6), "done")).rejects.toThrow(TypeError);
    await log.finish(turnId, [token(5, "d")], done(6), "done");
    expect(await log.get(turnId)).toMatchObject({ status: "done", lastId: 6, outcome: done(6) });
    expect((await log.events(turnId, 0)).map((e) => e.id)).toEqual([2, 3, 4, 5]);
    // Ended: the producer may write nothing more.
    expect((await caught(log.append(turnId, [token(7, "late")], LEASE_MS))).code).toBe("CONFLICT");
    expect((await caught(log.finish(turnId, [], done(7), "done"))).code).toBe("CONFLICT");
    expect((await caught(log.finish(turnId, [token(7, "late")], done(8), "done"))).code).toBe("CONFLICT");
    expect((await log.events(turnId, 0)).map((e) => e.id)).toEqual([2, 3, 4, 5]);
    expect(await log.get("00000000-0000-4000-8000-000000000000")).toBeNull();
  });

  it.skipIf(reason)("an idempotency key finds its turn, refuses another request, and runs again after a failure", async () => {
    const log = await open();
    const key = { key: "tenant\nkey-1", fingerprint: '["t","hello"]' };
    const first = await log.begin("t", LEASE_MS, key);
    const again = await log.begin("t", LEASE_MS, key);
    expect(first.kind).toBe("run");
    expect(again.kind).toBe("existing");
    if (first.kind !== "run" || again.kind !== "existing") return;
    expect(again.turn.turnId).toBe(first.turn.turnId);
    expect(again.checkpointId).toBe(first.checkpointId);
    expect(await log.begin("t", LEASE_MS, { ...key, fingerprint: '["t","other"]' })).toEqual({ kind: "mismatch" });
    // Another tenant's key of the same text is another key.
    expect((await log.begin("t", LEASE_MS, { ...key, key: "other-tenant\nkey-1" })).kind).toBe("run");

    // A failed turn (nothing saved) runs again under the same key and checkpoint id.
    await log.finish(first.turn.turnId, [], { id: 2, event: "error", data: { error: { code: "MODEL_ERROR" } } }, "failed");
    const rerun = await log.begin("t", LEASE_MS, key);
    expect(rerun.kind).toBe("run");
    if (rerun.kind !== "run") return;
    expect(rerun.turn.turnId).not.toBe(first.turn.turnId);
    expect(rerun.checkpointId).toBe(first.checkpointId);
    // Done: replayed, never run again.
    await log.finish(rerun.turn.turnId, [], done(2), "done");
    const replay = await log.begin("t", LEASE_MS, key);
    expect(replay).toMatchObject({ kind: "existing", turn: { turnId: rerun.turn.turnId, status: "done" } });
  });

  it.skipIf(reason)("concurrent first uses of one key start one turn", async () => {
    const log = await open();
    const key = { key: "tenant\nrace", fingerprint: "same" };
    const claims = await Promise.all(Array.from({ length: 6 }, () => log.begin("t", LEASE_MS, key)));
    expect(claims.filter((c) => c.kind === "run")).toHaveLength(1);
    expect(new Set(claims.map((c) => (c.kind === "mismatch" ? null : c.turn.turnId))).size).toBe(1);
  });

  it.skipIf(reason)("a lapsed lease ends the turn as INTERRUPTED once, and its key runs it again", async () => {
    const log = await open();
    const key = { key: "tenant\nk", fingerprint: "f" };
    const claim = await log.begin("t", 300, key);
    if (claim.kind !== "run") throw new Error("expected a new turn");
    const { turnId } = claim.turn;
    await log.append(turnId, [token(2, "a")], 300);
    expect((await log.get(turnId))!.leaseLapsed).toBe(false);
    await sleep(600);
    expect((await log.get(turnId))!.leaseLapsed).toBe(true);

    const ended = await log.endIfLapsed(turnId);
    // Its id follows the ids reserved for the producer, which it may have sent before storing them.
    const id = 2 + RESERVED_IDS + 1;
    expect(ended).toMatchObject({ status: "failed", lastId: id, outcome: { id, event: "error", data: { error: { code: "INTERRUPTED" } } } });
    // A second reader finds it ended, with the same final event.
    expect((await log.endIfLapsed(turnId))!.outcome).toEqual(ended!.outcome);
    // The producer, had it survived, may not go on.
    expect((await caught(log.append(turnId, [token(3, "late")], 300))).code).toBe("CONFLICT");

    const retry = await log.begin("t", LEASE_MS, key);
    expect(retry).toMatchObject({ kind: "run", checkpointId: claim.checkpointId });
  });

  it.skipIf(reason)("a key whose turn's producer died is taken over by the next request, which ends the old turn", async () => {
    const log = await open();
    const key = { key: "tenant\ntakeover", fingerprint: "f" };
    const claim = await log.begin("t", 200, key);
    if (claim.kind !== "run") throw new Error("expected a new turn");
    await sleep(400);
    const retry = await log.begin("t", LEASE_MS, key);
    expect(retry.kind).toBe("run");
    expect(await log.get(claim.turn.turnId)).toMatchObject({ status: "failed", outcome: { data: { error: { code: "INTERRUPTED" } } } });
  });

  it.skipIf(reason)("renewals keep the lease; leases run on the database's clock, not the process's", async () => {
    const log = await open();
    // The process's clock is far off: nothing the turn log decides may depend on it.
    vi.spyOn(Date, "now").mockReturnValue(0);
    const claim = await log.begin("t", 400);
    for (let i = 0; i < 8; i++) {
      await sleep(100);
      await log.append(claim.kind === "run" ? claim.turn.turnId : "", [], 400);
    }
    expect((await log.get(claim.kind === "run" ? claim.turn.turnId : ""))!.leaseLapsed).toBe(false);
  });

  it.skipIf(reason)("a stop asked for is seen by the producer's next append; an ended turn cannot be stopped", async () => {
    const log = await open();
    const claim = await log.begin("t", LEASE_MS);
    if (claim.kind !== "run") throw new Error("expected a new turn");
    const { turnId } = claim.turn;
    expect(await log.append(turnId, [token(2, "a")], LEASE_MS)).toEqual({ cancelRequested: false, reservedId: 2 + RESERVED_IDS });
    expect(await log.append(turnId, [], LEASE_MS)).toEqual({ cancelRequested: false });
    expect(await log.requestCancel(turnId)).toBe(true);
    // Seen by a renewal and by an append, which then writes nothing: its events go with the end.
    expect(await log.append(turnId, [], LEASE_MS)).toEqual({ cancelRequested: true });
    expect(await log.append(turnId, [token(3, "b")], LEASE_MS)).toEqual({ cancelRequested: true });
    expect((await log.events(turnId, 0)).map((e) => e.id)).toEqual([2]);
    await log.finish(turnId, [token(3, "b")], { id: 4, event: "error", data: { error: { code: "CANCELLED" } } }, "failed");
    expect((await log.events(turnId, 0)).map((e) => e.id)).toEqual([2, 3]);
    expect(await log.requestCancel(turnId)).toBe(false);
  });

  it.skipIf(reason)("the sweep deletes ended turns' events after the retention, keys after their lifetime, and ends dead turns", async () => {
    const log = await open();
    const ended = await log.begin("t", LEASE_MS, { key: "k\nended", fingerprint: "f" });
    const running = await log.begin("t", LEASE_MS);
    const dead = await log.begin("t", 100);
    if (ended.kind !== "run" || running.kind !== "run" || dead.kind !== "run") throw new Error("expected new turns");
    await log.append(ended.turn.turnId, [token(2, "a")], LEASE_MS);
    await log.finish(ended.turn.turnId, [token(3, "b")], done(4), "done");
    await log.append(running.turn.turnId, [token(2, "a")], LEASE_MS);
    await sleep(300);

    // Retention not yet passed: nothing goes but the dead turn's lease.
    expect(await log.sweep({ retentionMs: 60_000, keyTtlMs: 60_000, graceMs: 0 })).toEqual({ interrupted: 1, eventRows: 0, keys: 0, turns: 0 });
    expect((await log.get(dead.turn.turnId))!.outcome?.data).toMatchObject({ error: { code: "INTERRUPTED" } });
    expect(await log.events(ended.turn.turnId, 0)).toHaveLength(2);

    // Past the retention: the ended turns' event rows go (the running turn's stay); the turn
    // records stay while a key names them, and the outcome with them.
    const swept = await log.sweep({ retentionMs: 0, keyTtlMs: 60_000, graceMs: 0 });
    expect(swept.eventRows).toBe(2);
    expect(await log.events(ended.turn.turnId, 0)).toEqual([]);
    expect(await log.events(running.turn.turnId, 0)).toHaveLength(1);
    expect((await log.get(ended.turn.turnId))!.outcome).toEqual(done(4));

    // Past the keys' lifetime: keys go, then the ended turns no key names (the dead one ended
    // in the sweep above, maybe within this very millisecond).
    await sleep(5);
    expect(await log.sweep({ retentionMs: 0, keyTtlMs: 0, graceMs: 0 })).toMatchObject({ keys: 1, turns: 2 });
    expect(await log.get(ended.turn.turnId)).toBeNull();
    expect(await log.get(dead.turn.turnId)).toBeNull();
    expect((await log.get(running.turn.turnId))!.status).toBe("running");
  });
});
