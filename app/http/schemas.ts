import { z } from "zod";
import { MAX_THREAD_ID_CHARS } from "../agent/conversations.js";
import { ApiError } from "./errors.js";

// Lone surrogates cannot be stored as UTF-8: refused here, with a message about the field the client sent.
const wellFormed = (text: string) => !/\p{Surrogate}/u.test(text);
const UNICODE = "must be valid Unicode (no lone surrogates)";

/** Up to MAX_THREAD_ID_CHARS (room for a tenant prefix in storage), counted in code points as the checkpointer counts them. */
export const ThreadId = z
  .string()
  .min(1, "must not be empty")
  .refine((id) => [...id].length <= MAX_THREAD_ID_CHARS, `must be at most ${MAX_THREAD_ID_CHARS} characters`)
  .refine(wellFormed, UNICODE);

/**
 * The id of a thread a request may create. Browsers and `fetch` resolve `.` and `..` in a URL as
 * path segments, so a thread with such an id could never be opened from a page.
 */
const NewThreadId = ThreadId.refine((id) => id !== "." && id !== "..", 'must not be "." or ".." (URLs cannot address them)');

/** As the store generates or accepts them: up to 255 characters. */
const CheckpointId = z
  .string()
  .min(1, "must not be empty")
  .refine((id) => [...id].length <= 255, "must be at most 255 characters")
  .refine(wellFormed, UNICODE);

export const ThreadParams = z.object({ threadId: ThreadId });
export const NewThreadParams = z.object({ threadId: NewThreadId });

/** `GET /threads/:id`: the latest checkpoint, or the one named (time travel). */
export const ThreadQuery = z.object({ checkpointId: CheckpointId.optional() });

export const SendMessageBody = z.strictObject({
  content: z.string().refine((s) => s.trim() !== "", "must not be blank").refine(wellFormed, UNICODE),
});

/** `checkpointId`: branch from that point of the history rather than from its end. */
export const ForkBody = z.strictObject({ to: NewThreadId, checkpointId: CheckpointId.optional() });

/** The default and largest page sizes, as the README documents them. */
const DEFAULT_LIMITS = { threads: 50, checkpoints: 20, search: 10 } as const;
const MAX_LIMIT = 100;

const Limit = (fallback: number) => z.coerce.number().int().min(1).max(MAX_LIMIT).default(fallback);

export const ListThreadsQuery = z.object({
  limit: Limit(DEFAULT_LIMITS.threads),
  prefix: z.string().max(MAX_THREAD_ID_CHARS).refine(wellFormed, UNICODE).optional(),
  /** The `nextCursor` of the previous page. */
  cursor: ThreadId.optional(),
});

export const ListCheckpointsQuery = z.object({ limit: Limit(DEFAULT_LIMITS.checkpoints) });

export const SearchQuery = z.object({
  q: z
    .string({ error: "is required" })
    .refine((q) => q.trim() !== "", "must not be empty")
    .refine((q) => q.length <= 1000, "must be at most 1000 characters")
    .refine(wellFormed, UNICODE),
  limit: Limit(DEFAULT_LIMITS.search),
});

/** Validates one part of a request; a failure is a 400 naming each problem. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  // A missing part is empty; a JSON `null` body is not (it is named as what it is).
  const result = schema.safeParse(value === undefined ? {} : value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${[where, ...i.path].join(".")}: ${i.message}`);
  throw new ApiError(400, "INVALID_INPUT", problems.join("; "));
}
