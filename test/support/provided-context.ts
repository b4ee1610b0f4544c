// What the global setup hands to every test file through vitest's inject().
import type {} from "vitest";
declare module "vitest" {
  export interface ProvidedContext {
    /** Root URL of a real MySQL server, or null when none could be had (see mysqlSkipReason). */
    mysqlUrl: string | null;
    mysqlSkipReason: string;
    /** Whether a Docker runtime answers (for the Compose and container tests). */
    dockerAvailable: boolean;
  }
}

export {};
