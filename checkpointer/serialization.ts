import { CheckpointerError } from "./errors.js";
import type { Serializer } from "./types.js";

/**
 * The default serializer: JSON, strict. `JSON.stringify` silently drops functions and turns
 * NaN into null; a checkpoint must round-trip, so those throw `INVALID_INPUT` instead.
 */
export function jsonSerializer<S>(): Serializer<S> {
  return {
    serialize(state: S): string {
      let text: string | undefined;
      try {
        text = JSON.stringify(state, strictReplacer);
      } catch (error) {
        if (error instanceof CheckpointerError) throw error;
        throw new CheckpointerError("INVALID_INPUT", `state is not JSON-serialisable: ${(error as Error).message}`);
      }
      if (text === undefined) throw new CheckpointerError("INVALID_INPUT", "state is not JSON-serialisable");
      return text;
    },
    deserialize(text: string): S {
      return JSON.parse(text) as S;
    },
  };
}

function strictReplacer(this: unknown, key: string, value: unknown): unknown {
  switch (typeof value) {
    case "bigint":
    case "function":
    case "symbol":
      throw new CheckpointerError("INVALID_INPUT", `state is not JSON-serialisable: ${typeof value} at ${describe(key)}`);
    case "number":
      if (!Number.isFinite(value)) {
        throw new CheckpointerError("INVALID_INPUT", `state is not JSON-serialisable: ${value} at ${describe(key)}`);
      }
      return value;
    case "object":
      if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet) {
        throw new CheckpointerError("INVALID_INPUT", `state is not JSON-serialisable: ${value.constructor.name} at ${describe(key)}`);
      }
      return value;
    default:
      return value;
  }
}

function describe(key: string): string {
  return key === "" ? "the top level" : `key ${JSON.stringify(key)}`;
}
