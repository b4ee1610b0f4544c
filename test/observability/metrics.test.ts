// Metrics on METRICS_PORT, scraped by a real Prometheus server (Debian's `prometheus` package) and
// read back through Prometheus's HTTP API; and the endpoint's text itself. Without the binary the
// test skips, except in CI, where it fails (.ci/run installs it).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { APP_MAIN, cleanEnv, REPO, startAppProcess, type AppProcess } from "../app/support/app-process.js";
import { ciSetting, isCI } from "../support/ci.js";
import { freshDatabase } from "../support/databases.js";

const rootUrl = inject("mysqlUrl");
const PROMETHEUS = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].find((path) => existsSync(path));

if (!PROMETHEUS && isCI()) throw new Error(`${ciSetting()}, yet no prometheus binary (apt-get install prometheus; .ci/run does)`);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const post = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe.skipIf(!rootUrl)("metrics on METRICS_PORT", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let app: AppProcess;
  let metricsUrl: string;

  beforeAll(async () => {
    db = await freshDatabase(rootUrl!, "prom");
    app = await startAppProcess(...APP_MAIN, { cwd: REPO, env: cleanEnv({ PORT: "0", METRICS_PORT: "0", MYSQL_URL: db.url }) });
    metricsUrl = /"url":"([^"]+)","msg":"metrics"/.exec(app.output())![1]!;
    // A turn with a tool call, a second (a delta save), and a fork onto an existing thread (CONFLICT).
    expect((await post(app.url, "/threads/m1/messages", { content: "Calculate 2+3" })).status).toBe(200);
    expect((await post(app.url, "/threads/m1/messages", { content: "Calculate 3*4" })).status).toBe(200);
    expect((await post(app.url, "/threads/m2/messages", { content: "hello" })).status).toBe(200);
    expect((await post(app.url, "/threads/m1/fork", { to: "m2" })).status).toBe(409);
  });
  afterAll(async () => {
    app?.child.kill("SIGTERM");
    await app?.exited;
    await db?.drop();
  });

  it("serves Prometheus's text format on its own port, never on the API's", async () => {
    expect(new URL(metricsUrl).port).not.toBe(new URL(app.url).port);
    expect((await fetch(`${app.url}/metrics`)).status).not.toBe(200);
    const response = await fetch(metricsUrl);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await response.text();
    const line = (pattern: RegExp) => text.split("\n").filter((l) => pattern.test(l));
    expect(line(/^gen_ai_client_operation_duration_seconds_count\{.*gen_ai_operation_name="chat".*gen_ai_request_model="demo"/)).not.toEqual([]);
    expect(line(/^gen_ai_client_token_usage_sum\{.*gen_ai_token_type="input"/)).not.toEqual([]);
    expect(line(/^http_server_request_duration_seconds_count\{.*http_route="\/threads\/:threadId\/messages"/)).not.toEqual([]);
    expect(line(/^checkpointer_operation_duration_seconds_count\{.*checkpointer_operation="save".*checkpointer_kind="delta"/)).not.toEqual([]);
    expect(line(/^checkpointer_written_bytes_count\{.*checkpointer_kind="snapshot"/)).not.toEqual([]);
    expect(line(/^checkpointer_errors_total\{.*checkpointer_operation="copyThread".*error_type="CONFLICT".* 1/)).not.toEqual([]);
    expect(line(/^db_client_connection_count\{.*db_client_connection_state="idle"/)).not.toEqual([]);
    expect(line(/^db_client_connection_count\{.*db_client_connection_state="used"/)).not.toEqual([]);
  });

  it.skipIf(!PROMETHEUS)("is scraped by Prometheus, which answers a query for the model's call count", async () => {
    const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
    const port = await freePort();
    const target = new URL(metricsUrl);
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: agent\n    static_configs:\n      - targets: ["${target.host}"]\n`,
    );
    const server = spawn(
      PROMETHEUS!,
      [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    server.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
    try {
      const query = `sum by (gen_ai_request_model) (gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat"})`;
      let result: { metric: Record<string, string>; value: [number, string] }[] = [];
      const deadline = Date.now() + 20_000;
      while (result.length === 0) {
        if (Date.now() > deadline) throw new Error(`Prometheus never had the metric; its log:\n${log.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 250));
        const answer = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`).catch(() => undefined);
        if (answer?.ok) result = ((await answer.json()) as { data: { result: typeof result } }).data.result;
      }
      // Three turns: two with a tool call (two model calls each) and one without.
      expect(result).toEqual([{ metric: { gen_ai_request_model: "demo" }, value: [expect.any(Number), "5"] }]);
      const targets = (await (await fetch(`http://127.0.0.1:${port}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string }[] } };
      expect(targets.data.activeTargets.map((t) => t.health)).toEqual(["up"]);
    } finally {
      server.kill("SIGTERM");
      await new Promise((resolve) => server.once("exit", resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
