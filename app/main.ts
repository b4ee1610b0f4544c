// The app's entry point: configuration, store, model, HTTP server and signals.
import dotenv from "dotenv";
import { pino } from "pino";
import { ConfigError, loadConfig, type AppConfig } from "./config.js";
import { createApp } from "./create-app.js";
import { shutdown, startServer } from "./lifecycle.js";
import { DemoModel } from "./models/demo.js";
import type { Model } from "./models/model.js";
import { OpenAIModel } from "./models/openai.js";
import { openStore } from "./store.js";

function chooseModel(openai: AppConfig["openai"]): Model {
  if (!openai.apiKey) return new DemoModel();
  return new OpenAIModel({ apiKey: openai.apiKey, baseURL: openai.baseURL, model: openai.model });
}

async function main(): Promise<void> {
  // A real environment variable wins over the same name in .env.
  dotenv.config({ quiet: true });
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
  const logger = pino({ level: config.logLevel }, pino.destination({ dest: 1, sync: true }));
  const store = openStore(config, logger);
  const model = chooseModel(config.openai);
  logger.info(
    { model: model.name, baseURL: config.openai.apiKey ? config.openai.baseURL : undefined },
    config.openai.apiKey ? "model" : "no OPENAI_API_KEY: using the offline demo model",
  );

  // The config is the app's settings plus where to listen and store.
  const app = createApp({ checkpointer: store.checkpointer, checkpointerKind: store.kind, model, logger, options: config });
  if (config.apiKeys.length > 0) logger.info({ keys: config.apiKeys.length }, "API keys: each key sees its own threads only");
  else logger.warn("no API_KEYS: anyone who can reach the port can read and write every conversation");
  const running = await startServer(app, config.port, config.host);

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight requests");
    shutdown(running, () => store.checkpointer.close(), config.shutdownTimeoutMs, logger).then(
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
  // Announced once a signal can stop it gracefully: whoever waits for this line may send one at once.
  logger.info({ url: running.url }, "listening");
}

main().catch((error: unknown) => {
  console.error("failed to start:", error);
  process.exit(1);
});
