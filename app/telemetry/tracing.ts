// OpenTelemetry's Node SDK with the http, express and mysql2 instrumentations, configured by the
// standard OTEL_* variables only (exporter, endpoint, protocol, service name, OTEL_BSP_* batching).
// main.ts loads this module, and calls startTracing(), only when settings.ts says tracing is wanted,
// and before express or mysql2 is loaded: the instrumentations patch those modules as they load.
import { AsyncLocalStorage } from "node:async_hooks";
import { register } from "node:module";
import type { Context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { observeCheckpointer } from "./checkpointer.js";
import { enableGenAiTracing } from "./genai.js";
import { captureMessageContent } from "./settings.js";

export interface Tracing {
  /** Exports what is still buffered and stops the SDK. */
  shutdown(): Promise<void>;
}

/** The context manager's AsyncLocalStorage, which the checkpointer's channels bind their spans into. */
function storageOf(manager: AsyncLocalStorageContextManager): AsyncLocalStorage<Context> | undefined {
  const storage = (manager as unknown as { _asyncLocalStorage?: unknown })._asyncLocalStorage;
  return storage instanceof AsyncLocalStorage ? (storage as AsyncLocalStorage<Context>) : undefined;
}

export async function startTracing(env: Record<string, string | undefined> = process.env): Promise<Tracing> {
  // The app is ES modules: express, imported by one, is patched only through import-in-the-middle's
  // loader hook (tested: without it, no express spans). mysql2's connections are patched as
  // mysql2 requires them. The hook wraps only the modules named, not every module loaded. Where
  // Node can, the hook runs in-thread (module.registerHooks) rather than off-thread
  // (module.register), which costs a round trip to its worker for every module resolved.
  const include = ["express", "mysql2"];
  const hooks = await import("import-in-the-middle/register-hooks.mjs");
  if (hooks.supportsSyncHooks()) hooks.register({ include });
  else register("@opentelemetry/instrumentation/hook.mjs", import.meta.url, { data: { include } });
  const [{ NodeSDK }, { HttpInstrumentation }, { ExpressInstrumentation, ExpressLayerType }, { MySQL2Instrumentation }] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/instrumentation-http"),
    import("@opentelemetry/instrumentation-express"),
    import("@opentelemetry/instrumentation-mysql2"),
  ]);
  const contextManager = new AsyncLocalStorageContextManager();
  const sdk = new NodeSDK({
    contextManager,
    instrumentations: [
      // Compose probes /healthz every few seconds: no trace for those.
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => req.url === "/healthz" }),
      // The route's handler only: a span for each middleware (static files, auth, rate limit,
      // body parser, …) would be ten spans a turn that say little and cost a third of a trace.
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE, ExpressLayerType.ROUTER] }),
      new MySQL2Instrumentation(),
    ],
  });
  sdk.start();
  enableGenAiTracing(captureMessageContent(env));
  const unsubscribe = observeCheckpointer({ storage: storageOf(contextManager) });
  return {
    async shutdown() {
      unsubscribe();
      await sdk.shutdown();
    },
  };
}
