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

export const ThreadParams = z.object({ threadId: ThreadId });

export const SendMessageBody = z.strictObject({
  content: z.string().refine((s) => s.trim() !== "", "must not be blank").refine(wellFormed, UNICODE),
});

export const ForkBody = z.strictObject({ to: ThreadId });

const Limit = (fallback: number) => z.coerce.number().int().min(1).max(100).default(fallback);

export const ListThreadsQuery = z.object({
  limit: Limit(50),
  prefix: z.string().max(MAX_THREAD_ID_CHARS).refine(wellFormed, UNICODE).optional(),
});

export const ListCheckpointsQuery = z.object({ limit: Limit(20) });

/** Validates one part of a request; a failure is a 400 naming each problem. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${[where, ...i.path].join(".")}: ${i.message}`);
  throw new ApiError(400, "INVALID_INPUT", problems.join("; "));
}
