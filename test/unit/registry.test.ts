import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  BackendCheckpointer,
  CheckpointerError,
  getCheckpointer,
  listCheckpointers,
  MemoryCheckpointer,
  registerCheckpointer,
  SQLiteCheckpointer,
  type MySQLCheckpointer,
  type StorageBackend,
} from "../../checkpointer/index.js";

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointerError);
    return (error as CheckpointerError).code;
  }
  return undefined;
}

describe("registry", () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("builds the built-in checkpointers from specs", async () => {
    expect(listCheckpointers()).toEqual(expect.arrayContaining(["memory", "mysql", "sqlite"]));
    expect(getCheckpointer("memory")).toBeInstanceOf(MemoryCheckpointer);
    const dir = await mkdtemp(join(tmpdir(), "reg-"));
    dirs.push(dir);
    const path = join(dir, "nested", "checkpoints.db");
    const sqlite = getCheckpointer<{ n: number }>(`sqlite:${path}`);
    expect(sqlite).toBeInstanceOf(SQLiteCheckpointer);
    await sqlite.save({ n: 1 }, "t");
    await sqlite.close();
    const again = new SQLiteCheckpointer<{ n: number }>({ path });
    expect(await again.load("t")).toEqual({ n: 1 });
    await again.close();
    const mysql = getCheckpointer("mysql://app:pw@127.0.0.1:1/agent");
    expect(mysql.capabilities.search).toBe(true);
    await mysql.close();
    // "mysql" reads the environment it is given (process.env by default).
    const fromEnv = getCheckpointer("mysql", { env: { MYSQL_URL: "mysql://app@127.0.0.1:1/agent", MYSQL_PASSWORD: "apart" } });
    expect((fromEnv as MySQLCheckpointer<unknown>).backend.config.poolOptions().password).toBe("apart");
    await fromEnv.close();
  });

  it("refuses unknown or malformed specs with INVALID_INPUT", async () => {
    for (const spec of ["redis://x", "", "sqlite:", "mysql://bad url"]) expect(await codeOf(() => getCheckpointer(spec))).toBe("INVALID_INPUT");
    // The file store is gone: its specs say what replaced it.
    const error = await Promise.resolve().then(() => getCheckpointer("file:./data")).catch((e: unknown) => e);
    expect((error as CheckpointerError).code).toBe("INVALID_INPUT");
    expect((error as CheckpointerError).message).toContain("sqlite:");
    expect(await codeOf(() => registerCheckpointer("Bad Name", () => new MemoryCheckpointer()))).toBe("INVALID_INPUT");
  });

  it("takes custom backends by name", () => {
    const made: string[] = [];
    registerCheckpointer("custom", (spec) => {
      made.push(spec);
      return new MemoryCheckpointer();
    });
    expect(listCheckpointers()).toContain("custom");
    expect(getCheckpointer("custom:opts")).toBeInstanceOf(MemoryCheckpointer);
    expect(made).toEqual(["custom:opts"]);
  });
});

describe("capabilities", () => {
  // A backend that can only save and load: every optional method must say UNSUPPORTED.
  const minimal = {
    capabilities: { search: false, metadataQuery: false, vacuum: false, branching: false, ttl: false, listThreads: false, listWithMetadata: false, persistentCheckpointIds: false },
  } as unknown as StorageBackend;

  it("refuses optional methods whose flag is false with UNSUPPORTED", async () => {
    const cp = new BackendCheckpointer(minimal);
    expect(await codeOf(cp.search("x"))).toBe("UNSUPPORTED");
    expect(await codeOf(cp.queryByMetadata("k", 1))).toBe("UNSUPPORTED");
    expect(await codeOf(cp.vacuum({ olderThanDays: 1 }))).toBe("UNSUPPORTED");
    expect(await codeOf(cp.copyThread("a", "b"))).toBe("UNSUPPORTED");
    expect(await codeOf(cp.listThreads())).toBe("UNSUPPORTED");
    expect(await codeOf(cp.listWithMetadata())).toBe("UNSUPPORTED");
    // The flags are a copy: callers cannot switch a capability on.
    cp.capabilities.search = true;
    expect(cp.capabilities.search).toBe(false);
  });
});
