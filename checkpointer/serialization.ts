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
        // A replacer costs a call per value; plain data, checked by a cheaper walk, needs none.
        text = isPlainJson(state, 0) ? JSON.stringify(state) : JSON.stringify(state, strictReplacer);
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

/** Deeper than this, the walk gives up (a cycle, or unusual data) and the replacer decides. */
const MAX_PLAIN_DEPTH = 500;

/**
 * True when `JSON.stringify` keeps `value` exactly as `strictReplacer` would let it: plain objects
 * and arrays of strings, booleans, null, finite numbers and `undefined` (dropped, as JSON does).
 * Anything else — toJSON objects such as Dates, class instances, Maps, functions, NaN, cycles —
 * takes the replacer's path, which converts or refuses it with a precise message.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (depth > MAX_PLAIN_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === "function") return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key of Object.keys(value)) if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
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
