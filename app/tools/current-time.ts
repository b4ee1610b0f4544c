import { z } from "zod";
import { defineTool, type Tool } from "./tool.js";

/** The current date and time, in UTC or a named IANA time zone. `now` is injectable for tests. */
export function currentTimeTool(now: () => Date = () => new Date()): Tool {
  return defineTool({
    name: "current_time",
    description: "Get the current date and time. Optionally in an IANA time zone such as Europe/Paris.",
    parameters: z.object({ timeZone: z.string().max(64).optional().describe("IANA time zone; UTC when absent") }),
    run: ({ timeZone = "UTC" }) => {
      let format: Intl.DateTimeFormat;
      try {
        format = new Intl.DateTimeFormat("en-US", { timeZone, dateStyle: "full", timeStyle: "long" });
      } catch {
        throw new Error(`unknown time zone ${JSON.stringify(timeZone)}`);
      }
      const date = now();
      return `${format.format(date)} (${date.toISOString()})`;
    },
  });
}
