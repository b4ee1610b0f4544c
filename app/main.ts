// The app's entry point: configuration, store, model, HTTP server and signals.
import type { AppConfig } from "./config.js";
import type { Model } from "./models/model.js";
import { nodeVersionProblem } from "./node-version.js";

// First, and before any other module is loaded: static imports are all loaded (and linked) before
// this file's code runs, and one that needs a newer Node (node:sqlite) would fail with a stack
// trace instead of this line. So everything else is imported dynamically, below.
const tooOld = nodeVersionProblem(process.versions.node);
if (tooOld) {
  console.error(tooOld);
  process.exit(2);
}
/** The process that started the app (under `npm start`, the shell npm runs it in). */
const startedBy = process.ppid;

const { default: dotenv } = await import("dotenv");
// A real environment variable wins over the same name in .env. Read before tracing starts: the
// OTEL_* variables may be in .env.
dotenv.config({ quiet: true });
// Tracing starts before express and mysql2 are loaded, which its instrumentations patch as they
// load; without the OTEL_* variables that ask for it (telemetry/settings.ts), OpenTelemetry's SDK
// is not even loaded.
const { tracingRequested } = await import("./telemetry/settings.js");
const tracing = tracingRequested(process.env) ? await (await import("./telemetry/tracing.js")).startTracing(process.env) : undefined;
const { pino } = await import("pino");
const { traceFields } = await import("./telemetry/log-fields.js");
const { ConfigError, loadConfig } = await import("./config.js");
const { createApp } = await import("./create-app.js");
const { shutdown, startServer } = await import("./lifecycle.js");
const { DemoModel } = await import("./models/demo.js");
const { OpenAIModel } = await import("./models/openai.js");
const { watchParent } = await import("./parent-watch.js");
const { checkStore, storeLocation } = await import("./store-check.js");
const { openStore } = await import("./store.js");
const { BackendCheckpointer, MySQLBackend } = await import("../checkpointer/index.js");
const { setTimeout: sleep } = await import("node:timers/promises");

/** The MySQL pool's connections, for metrics; undefined for SQLite. */
function poolOf(checkpointer: unknown): (() => { used: number; idle: number } | undefined) | undefined {
  const backend = checkpointer instanceof BackendCheckpointer ? checkpointer.backend : undefined;
  return backend instanceof MySQLBackend ? () => backend.database.poolConnections() : undefined;
}

function chooseModel(openai: AppConfig["openai"], demoTokenDelayMs: number): Model {
  if (!openai.apiKey) return new DemoModel({ tokenDelayMs: demoTokenDelayMs });
  return new OpenAIModel({ apiKey: openai.apiKey, baseURL: openai.baseURL, model: openai.model });
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
  // Synchronous writes to stdout: pino's default (asynchronous) stream flushes at exit in a loop
  // that retries a broken pipe forever, so an app whose log reader had gone never exited.
  // Traced, a line logged inside a request carries its trace_id and span_id.
  const logger = pino({ level: config.logLevel, ...(tracing && { mixin: traceFields }) }, pino.destination({ dest: 1, sync: true }));
  const store = openStore(config, logger);
  // Not awaited: the server starts meanwhile, and the outcome is logged within a few seconds.
  void checkStore(store.checkpointer, storeLocation(store.checkpointer, config.checkpointer), logger);
  const model = chooseModel(config.openai, config.demoTokenDelayMs);
  logger.info(
    { model: model.name, baseURL: config.openai.apiKey ? config.openai.baseURL : undefined },
    config.openai.apiKey ? "model" : "no OPENAI_API_KEY: using the offline demo model",
  );

  // The config is the app's settings plus where to listen and store.
  const app = createApp({ checkpointer: store.checkpointer, checkpointerKind: store.kind, model, logger, options: config });
  if (config.apiKeys.length > 0) logger.info({ keys: config.apiKeys.length }, "API keys: each key sees its own threads only");
  else logger.warn("no API_KEYS: anyone who can reach the port can read and write every conversation");
  const running = await startServer(app, config.port, config.host, config);
  const metrics =
    config.metricsPort === undefined
      ? undefined
      : await (await import("./telemetry/metrics.js")).startMetrics({ port: config.metricsPort, host: config.host, pool: poolOf(store.checkpointer) });
  if (metrics) logger.info({ url: metrics.url }, "metrics");
  if (tracing) logger.info("tracing: exporting spans as the OTEL_* variables say");

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals | "parent exited") => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight requests");
    // Turns outlive their requests: they get the shutdown's time to end before the store closes.
    const closeStore = async () => {
      await app.turns.drain(AbortSignal.timeout(config.shutdownTimeoutMs));
      await store.checkpointer.close();
    };
    shutdown(running, closeStore, config.shutdownTimeoutMs, logger)
      .then(async (clean) => {
        // The last spans are exported, within a second, before the process goes.
        await Promise.race([Promise.all([metrics?.close(), tracing?.shutdown()]), sleep(1000)]).catch(() => {});
        return clean;
      })
      .then(
        (clean) => {
          logger.info({ clean }, "shutdown complete");
          // Exit even if a timed-out connection attempt would keep the event loop alive.
          process.exit(clean ? 0 : 1);
        },
        (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // Started by npm (`npm start`), the app's parent is the shell npm runs it in; npm passes SIGTERM
  // to that shell, which exits without passing it on (parent-watch.ts). Once that parent has
  // gone, stop as on SIGTERM rather than keep serving.
  if (process.env.npm_lifecycle_event !== undefined) watchParent(() => onSignal("parent exited"), { parent: startedBy });
  // Announced once a signal can stop it gracefully: whoever waits for this line may send one at once.
  logger.info({ url: running.url }, "listening");
}

main().catch((error: unknown) => {
  console.error("failed to start:", error);
  process.exit(1);
});
