import { z } from "zod";
import { MAX_THREAD_ID_CHARS } from "../agent/conversations.js";
import { ApiError } from "./errors.js";

// Lone surrogates cannot be stored as UTF-8: refused here, with a message about the field the client sent.
const wellFormed = (text: string) => !/\p{Surrogate}/u.test(text);
const UNICODE = "must be valid Unicode (no lone surrogates)";

/** A string field or parameter: missing, repeated (`?q=a&q=b` arrives as an array) and other types each say so. */
const text = () =>
  z.string({
    error: (issue) => (issue.input === undefined ? "is required" : Array.isArray(issue.input) ? "must be a string (given once)" : "must be a string"),
  });

/**
 * An object that refuses keys it does not know, naming them and the ones it knows: `what` is
 * "field" for a body, "parameter" for a query string.
 */
function strict<T extends z.ZodRawShape>(shape: T, what: "field" | "parameter") {
  const known = Object.keys(shape);
  const expected = known.length > 0 ? `; known: ${known.join(", ")}` : `; this request takes no ${what}s`;
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `unknown ${what}${issue.keys.length === 1 ? "" : "s"} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}${expected}`
        : undefined,
  });
}

/** Up to MAX_THREAD_ID_CHARS (room for a tenant prefix in storage), counted in code points as the checkpointer counts them. */
export const ThreadId = text()
  .min(1, "must not be empty")
  .refine((id) => [...id].length <= MAX_THREAD_ID_CHARS, `must be at most ${MAX_THREAD_ID_CHARS} characters`)
  .refine(wellFormed, UNICODE);

/**
 * The id of a thread a request may create. Browsers and `fetch` resolve `.` and `..` in a URL as
 * path segments, so a thread with such an id could never be opened from a page.
 */
const NewThreadId = ThreadId.refine((id) => id !== "." && id !== "..", 'must not be "." or ".." (URLs cannot address them)');

/** As the store generates or accepts them: up to 255 characters. */
const CheckpointId = text()
  .min(1, "must not be empty")
  .refine((id) => [...id].length <= 255, "must be at most 255 characters")
  .refine(wellFormed, UNICODE);

export const ThreadParams = z.object({ threadId: ThreadId });
export const NewThreadParams = z.object({ threadId: NewThreadId });

/** A turn of a thread: the `turnId` its `turn` event gave. */
export const TurnParams = z.object({ threadId: ThreadId, turnId: z.uuid("must be a turn id (a UUID)") });

/** An event id (`Last-Event-ID`, `lastEventId`): a whole number, 0 for "from the start". */
const EventId = text().regex(/^\d{1,9}$/, "must be a whole number of at most 9 digits (an event's id)").transform(Number);

/** `GET …/events`: where to resume, for clients that cannot send `Last-Event-ID` (the header wins). */
export const EventsQuery = strict({ lastEventId: EventId.optional() }, "parameter");

/**
 * The headers of turn requests: `Idempotency-Key` on `POST …/messages` (IETF
 * draft-ietf-httpapi-idempotency-key-header; visible ASCII, as a UUID or any token the client
 * makes), and `Last-Event-ID` on `GET …/events` (what `EventSource` sends when it reconnects).
 */
export const TurnHeaders = z.object({
  "idempotency-key": text()
    .regex(/^[\x21-\x7e]{1,255}$/, "must be 1 to 255 visible ASCII characters (a UUID, for example)")
    .optional(),
  "last-event-id": EventId.optional(),
});

/** `GET /threads/:id`: the latest checkpoint, or the one named (time travel). */
export const ThreadQuery = strict({ checkpointId: CheckpointId.optional() }, "parameter");

/** The query of a request that takes no parameters: any is refused, as unknown body fields are. */
export const NoQuery = strict({}, "parameter");

export const SendMessageBody = strict(
  { content: text().refine((s) => s.trim() !== "", "must not be blank").refine(wellFormed, UNICODE) },
  "field",
);

/** `checkpointId`: branch from that point of the history rather than from its end. */
export const ForkBody = strict({ to: NewThreadId, checkpointId: CheckpointId.optional() }, "field");

/** The default and largest page sizes, as docs/api.md documents them. */
const DEFAULT_LIMITS = { threads: 50, checkpoints: 20, search: 10 } as const;
export const MAX_LIMIT = 100;

/** `limit`: digits only, 1 to MAX_LIMIT, given at most once; anything else says exactly that. */
const LIMIT = `must be a whole number from 1 to ${MAX_LIMIT}`;
const Limit = (fallback: number) =>
  z
    .string({ error: (issue) => (Array.isArray(issue.input) ? `must be given once, as a whole number from 1 to ${MAX_LIMIT}` : LIMIT) })
    .regex(/^\d{1,9}$/, LIMIT)
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_LIMIT, LIMIT)
    .optional()
    .transform((n) => n ?? fallback);

export const ListThreadsQuery = strict(
  {
    limit: Limit(DEFAULT_LIMITS.threads),
    prefix: text().max(MAX_THREAD_ID_CHARS).refine(wellFormed, UNICODE).optional(),
    /** The `nextCursor` of the previous page. */
    cursor: ThreadId.optional(),
  },
  "parameter",
);

export const ListCheckpointsQuery = strict(
  {
    limit: Limit(DEFAULT_LIMITS.checkpoints),
    /** The `nextCursor` of the previous page: the page lists the checkpoints before this one. */
    cursor: CheckpointId.optional(),
  },
  "parameter",
);

export const SearchQuery = strict(
  {
    q: text()
      .refine((q) => q.trim() !== "", "must not be empty")
      .refine((q) => q.length <= 1000, "must be at most 1000 characters")
      .refine(wellFormed, UNICODE),
    limit: Limit(DEFAULT_LIMITS.search),
  },
  "parameter",
);

/** Validates one part of a request; a failure is a 400 naming each problem. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  // A missing part is empty; a JSON `null` body is not (it is named as what it is).
  const result = schema.safeParse(value === undefined ? {} : value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${[where, ...i.path].join(".")}: ${i.message}`);
  throw new ApiError(400, "INVALID_INPUT", problems.join("; "));
}
