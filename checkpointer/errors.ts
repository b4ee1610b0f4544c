/** Why a checkpointer call failed. Callers branch on `code`, never on message text. */
export type CheckpointerErrorCode =
  | "INVALID_INPUT" // the caller's arguments are wrong; nothing was written
  | "CONFLICT" // compare-and-set lost, or the id/destination already exists
  | "TOO_LARGE" // the checkpoint is bigger than the store accepts
  | "UNSUPPORTED" // the checkpointer does not offer this capability
  | "UNAVAILABLE" // the store cannot be reached; retrying later may work
  | "SCHEMA"; // tables are missing or cannot be created

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
