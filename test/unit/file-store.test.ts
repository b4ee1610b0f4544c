import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointerError, FileCheckpointer } from "../../checkpointer/index.js";

describe("FileCheckpointer with a damaged index.json", () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it.each([
    ["torn JSON", '{"threadId": "t1", "nextSeq'],
    ["JSON that is no thread index", '{"hello": "world"}'],
  ])("reports %s as a CheckpointerError SCHEMA naming the file", async (_label, damage) => {
    const directory = await mkdtemp(join(tmpdir(), "file-store-"));
    dirs.push(directory);
    const cp = new FileCheckpointer<{ n: number }>({ directory });
    await cp.save({ n: 1 }, "t1");
    const [folder] = await readdir(join(directory, "threads"));
    const index = join(directory, "threads", folder!, "index.json");
    await writeFile(index, damage);
    for (const call of [() => cp.load("t1"), () => cp.listThreads()]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CheckpointerError);
      expect((error as CheckpointerError).code).toBe("SCHEMA");
      expect((error as CheckpointerError).message).toContain(index);
    }
    await cp.close();
  });
});
