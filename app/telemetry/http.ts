// `http.server.request.duration` (seconds) as the HTTP semantic conventions name it, recorded by
// create-app.ts for every request once metrics.ts has made the histogram; a no-op before.
import type { Histogram } from "@opentelemetry/api";

let duration: Histogram | undefined;

export function setHttpInstrument(histogram: Histogram | undefined): void {
  duration = histogram;
}

/** `route` is the Express route that matched (`/threads/:threadId/messages`), never the raw path. */
export function recordHttpRequest(method: string, route: string | undefined, status: number, seconds: number): void {
  duration?.record(seconds, {
    "http.request.method": method,
    "http.response.status_code": status,
    ...(route !== undefined && { "http.route": route }),
  });
}
