// Metrics in Prometheus's text format on their own port (METRICS_PORT), never on the API's. Made
// with OpenTelemetry's metrics SDK and its Prometheus exporter: both come with @opentelemetry/sdk-node
// already, so they add no package, and OpenTelemetry's names become Prometheus's by the exporter's
// rules (dots become underscores). Its version here adds no unit suffix: views add Prometheus's
// `_seconds` and `_bytes`, so `gen_ai.client.operation.duration` (unit s) is scraped as
// `gen_ai_client_operation_duration_seconds`; the instruments keep the conventions' names.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { observeCheckpointer } from "./checkpointer.js";
import { setGenAiInstruments, TRACER_NAME } from "./genai.js";
import { setHttpInstrument } from "./http.js";

export interface Metrics {
  /** Where Prometheus scrapes: `http://host:port/metrics`. */
  url: string;
  close(): Promise<void>;
}

/** Seconds: a model call or a turn takes from milliseconds to minutes. */
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** The GenAI conventions' advice for `gen_ai.client.token.usage`. */
const TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const BYTES = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

/**
 * Starts the metrics endpoint on `port` and `host`. `pool` reads the MySQL pool's connections
 * (undefined without MySQL, or before its first query).
 */
export async function startMetrics(options: { port: number; host: string; pool?: () => { used: number; idle: number } | undefined }): Promise<Metrics> {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const views = [
    ...["gen_ai.client.operation.duration", "http.server.request.duration", "checkpointer.operation.duration"].map((name) => ({ instrumentName: name, name: `${name}.seconds` })),
    { instrumentName: "checkpointer.written", name: "checkpointer.written.bytes" },
  ];
  const provider = new MeterProvider({ readers: [exporter], views });
  const meter = provider.getMeter(TRACER_NAME);
  setGenAiInstruments({
    operationDuration: meter.createHistogram("gen_ai.client.operation.duration", {
      unit: "s",
      description: "GenAI operation duration.",
      advice: { explicitBucketBoundaries: SECONDS },
    }),
    tokenUsage: meter.createHistogram("gen_ai.client.token.usage", {
      unit: "{token}",
      description: "Number of input and output tokens used.",
      advice: { explicitBucketBoundaries: TOKENS },
    }),
  });
  setHttpInstrument(
    meter.createHistogram("http.server.request.duration", { unit: "s", description: "Duration of HTTP server requests.", advice: { explicitBucketBoundaries: SECONDS } }),
  );
  const unsubscribe = observeCheckpointer({
    instruments: {
      duration: meter.createHistogram("checkpointer.operation.duration", {
        unit: "s",
        description: "Duration of checkpointer operations, by operation, store and (saves) kind.",
        advice: { explicitBucketBoundaries: SECONDS },
      }),
      written: meter.createHistogram("checkpointer.written", {
        unit: "By",
        description: "Bytes of state a save wrote, by kind (delta, snapshot, none).",
        advice: { explicitBucketBoundaries: BYTES },
      }),
      errors: meter.createCounter("checkpointer.errors", { description: "Checkpointer operations that failed, by operation and error code." }),
    },
  });
  const pool = options.pool;
  if (pool) {
    meter
      .createObservableUpDownCounter("db.client.connection.count", { unit: "{connection}", description: "MySQL pool connections, by state (used, idle)." })
      .addCallback((result) => {
        const now = pool();
        if (!now) return;
        result.observe(now.used, { "db.client.connection.state": "used", "db.system.name": "mysql" });
        result.observe(now.idle, { "db.client.connection.state": "idle", "db.system.name": "mysql" });
      });
  }
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && (req.url === "/metrics" || req.url?.startsWith("/metrics?"))) exporter.getMetricsRequestHandler(req, res);
    else res.writeHead(404).end("metrics are at /metrics\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    async close() {
      unsubscribe();
      setGenAiInstruments(undefined);
      setHttpInstrument(undefined);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await provider.shutdown();
    },
  };
}
