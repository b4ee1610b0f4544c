import type { ErrorRequestHandler, Request, RequestHandler } from "express";
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
  CORRUPT: 500,
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

/** The error as a client sees it, `{ error: { code, message } }`; a 5xx is logged with its details first. */
export function errorResponse(error: unknown, req: Request, logger: Logger): { status: number; body: { error: { code: string; message: string } } } {
  const api = toApiError(error);
  if (api.status >= 500) logger.error({ err: error, method: req.method, path: req.path }, "request failed");
  return { status: api.status, body: { error: { code: api.code, message: api.message } } };
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const { status, body } = errorResponse(error, req, logger);
    res.status(status).json(body);
  };
}

export const notFound: RequestHandler = (req) => {
  throw new ApiError(404, "NOT_FOUND", `no route for ${req.method} ${req.path}`);
};

/** For a known path: any method but `allowed` is 405, with the `Allow` header. */
export function methodNotAllowed(...allowed: string[]): RequestHandler {
  const allow = (allowed.includes("GET") ? [...allowed, "HEAD"] : allowed).join(", ");
  return (req, res) => {
    res.setHeader("Allow", allow);
    throw new ApiError(405, "METHOD_NOT_ALLOWED", `${req.method} is not allowed here; allowed: ${allow}`);
  };
}

/** Bodies are JSON: anything else (or none) is 415, saying what to send. */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  if (!req.is("application/json")) {
    throw new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "the request body must be JSON, sent with content-type: application/json");
  }
  next();
};
