/** Why a checkpointer call failed. Callers branch on `code`, never on message text. */
export type CheckpointerErrorCode =
  | "INVALID_INPUT" // the caller's arguments are wrong; nothing was written
  | "CONFLICT" // compare-and-set lost, or the id/destination already exists
  | "TOO_LARGE" // the checkpoint is bigger than the store accepts
  | "UNSUPPORTED" // the checkpointer does not offer this capability
  | "UNAVAILABLE" // the store cannot be reached (an outage, or the checkpointer is closed); retrying later may work
  // The store is not what the checkpointer needs, and retrying will not help: the database or its
  // tables are missing (and cannot be created), the server refuses the module's SQL, or a file is corrupt.
  | "SCHEMA"
  // Stored bytes do not rebuild the document they recorded (a row of its chain is missing or
  // altered): nothing is returned rather than a wrong state. Restore the thread from a backup.
  | "CORRUPT";

export class CheckpointerError extends Error {
  readonly code: CheckpointerErrorCode;

  constructor(code: CheckpointerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CheckpointerError";
    this.code = code;
  }
}

export function isCheckpointerError(error: unknown, code?: CheckpointerErrorCode): error is CheckpointerError {
  return error instanceof CheckpointerError && (code === undefined || error.code === code);
}
