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

/**
 * What a client is told when the store refuses a request, by code: the store's own message may
 * carry the driver's text (`ER_NET_PACKET_TOO_LARGE: …`) or the app's internal field names, so
 * it goes to the log only.
 */
const STORE_REFUSALS: Partial<Record<CheckpointerErrorCode, string>> = {
  INVALID_INPUT: "the conversation store refused this request as invalid",
  CONFLICT: "another request changed this thread at the same time; try again",
  TOO_LARGE: "the conversation would be larger than the store can save; continue in a new thread",
};

/** express.json()'s errors carry a `type`; these are the client's fault. */
const BODY_PARSER_ERRORS: Record<string, ApiError> = {
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
    return new ApiError(status, error.code, STORE_REFUSALS[error.code] ?? "the conversation store refused this request");
  }
  if (error instanceof ModelError) return new ApiError(502, "MODEL_ERROR", "the language model failed to answer; try again later");
  const type = (error as { type?: unknown })?.type;
  if (type === "entity.too.large") {
    // body-parser's error has the limit in bytes (BODY_LIMIT, parsed).
    const limit = (error as { limit?: unknown }).limit;
    const bytes = typeof limit === "number" ? ` of ${limit} bytes` : "";
    return new ApiError(413, "TOO_LARGE", `the request body is larger than the limit${bytes}`);
  }
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
  // The client got a message of the app's own: the store's, with its details, is for the operator.
  else if (isCheckpointerError(error)) logger.warn({ err: error, method: req.method, path: req.path, status: api.status }, "the store refused a request");
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

/** True when the request has no body at all: no Content-Length (or 0) and no chunked body. */
function hasNoBody(req: Request): boolean {
  if (req.headers["transfer-encoding"] !== undefined) return false;
  const length = req.headers["content-length"];
  return length === undefined || /^\s*0+\s*$/.test(length);
}

/**
 * Bodies are JSON: any other is 415, saying what to send. No body at all is taken as an empty
 * object, whatever its content type, so the route's schema names each missing field (a 400).
 */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  if (!hasNoBody(req) && !req.is("application/json")) {
    throw new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "the request body must be JSON, sent with content-type: application/json");
  }
  next();
};
