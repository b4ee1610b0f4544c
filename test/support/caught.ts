import { expect } from "vitest";
import { CheckpointerError } from "../../checkpointer/index.js";

/** The CheckpointerError a call must fail with (asserted), to check its code and message. */
export async function caught(promise: Promise<unknown>): Promise<CheckpointerError> {
  const error = await promise.then(
    () => new Error("expected a failure"),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CheckpointerError);
  return error as CheckpointerError;
}
