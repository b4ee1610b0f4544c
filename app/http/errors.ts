import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { isCheckpointerError, type CheckpointerErrorCode } from "../../checkpointer/index.js";
import { ModelError } from "../models/model.js";

/** An error with its HTTP status and a stable code, sent as `{ "error": { "code", "message" } }`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

const CHECKPOINTER_STATUS: Record<CheckpointerErrorCode, number> = {
  INVALID_INPUT: 400,
  CONFLICT: 409,
  TOO_LARGE: 413,
  UNAVAILABLE: 503,
  UNSUPPORTED: 500,
  SCHEMA: 500,
};

/** express.json()'s errors carry a `type`; these are the client's fault. */
const BODY_PARSER_ERRORS: Record<string, ApiError> = {
  "entity.too.large": new ApiError(413, "TOO_LARGE", "the request body is larger than the limit"),
  "entity.parse.failed": new ApiError(400, "INVALID_JSON", "the request body is not valid JSON"),
  "encoding.unsupported": new ApiError(415, "UNSUPPORTED_ENCODING", "the request body's encoding is not supported"),
  "charset.unsupported": new ApiError(415, "UNSUPPORTED_ENCODING", "the request body's charset is not supported"),
};

/** Maps any error to an `ApiError`. 5xx messages stay generic: the details go to the log only. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isCheckpointerError(error)) {
    const status = CHECKPOINTER_STATUS[error.code];
    if (status === 503) return new ApiError(503, "UNAVAILABLE", "the conversation store is unavailable; try again later");
    if (status >= 500) return new ApiError(status, "INTERNAL", "internal error");
    return new ApiError(status, error.code, error.message);
  }
  if (error instanceof ModelError) return new ApiError(502, "MODEL_ERROR", "the language model failed to answer; try again later");
  const type = (error as { type?: unknown })?.type;
  if (typeof type === "string" && BODY_PARSER_ERRORS[type]) return BODY_PARSER_ERRORS[type];
  // Other client errors Express and body-parser raise carry a 4xx status: a path that is not valid
  // percent-encoded UTF-8, a body shorter than its Content-Length.
  const status = (error as { status?: unknown })?.status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new ApiError(status, "BAD_REQUEST", "the request is malformed (its URL or body cannot be decoded)");
  }
  return new ApiError(500, "INTERNAL", "internal error");
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const api = toApiError(error);
    if (api.status >= 500) logger.error({ err: error, method: req.method, path: req.path }, "request failed");
    res.status(api.status).json({ error: { code: api.code, message: api.message } });
  };
}

export const notFound: RequestHandler = (req) => {
  throw new ApiError(404, "NOT_FOUND", `no route for ${req.method} ${req.path}`);
};
