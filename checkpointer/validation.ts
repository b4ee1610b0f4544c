import { CheckpointerError } from "./errors.js";
import type { JsonValue, Metadata } from "./types.js";

export const MAX_ID_CHARS = 255;
export const MAX_LIMIT = 10_000;
export const MAX_METADATA_BYTES = 64 * 1024;
export const MAX_QUERY_CHARS = 1_000;

function invalid(message: string): never {
  throw new CheckpointerError("INVALID_INPUT", message);
}

/** True when the string holds a lone surrogate, which no UTF-8 store can keep. */
// In a `u` regex a surrogate pair is one code point, so this matches lone surrogates only.
const LONE_SURROGATE = /\p{Surrogate}/u;

function hasLoneSurrogate(value: string): boolean {
  return LONE_SURROGATE.test(value);
}

/** Replaces lone surrogates with U+FFFD, so the text is valid UTF-8. */
export function toWellFormed(value: string): string {
  return value.replace(/\p{Surrogate}/gu, "\uFFFD");
}

/** Length in Unicode code points, which is what MySQL's VARCHAR(255) counts. */
function codePointLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

/**
 * An id-like string of `min` to `max` code points of any Unicode (`:`, `%`, `_`, `'`, emoji and
 * trailing spaces included), but no lone surrogates: the one check behind every id, prefix and key.
 */
export function validateKey(value: unknown, what: string, max = MAX_ID_CHARS, min = 1): string {
  if (typeof value !== "string") invalid(`${what} must be a string, got ${typeof value}`);
  if (value.length < min) invalid(min === 1 ? `${what} must not be empty` : `${what} must be at least ${min} characters`);
  // A code point is at most two UTF-16 units: a longer string is too long without counting.
  if (value.length > max * 2 || codePointLength(value) > max) invalid(`${what} is longer than ${max} characters`);
  if (hasLoneSurrogate(value)) invalid(`${what} is not valid Unicode (lone surrogate)`);
  return value;
}

/** Thread and checkpoint ids: 1 to 255 code points (`MAX_ID_CHARS`, what the id columns hold). */
export function validateId(value: unknown, what = "threadId"): string {
  return validateKey(value, what);
}

export function validateOptionalId(value: unknown, what: string): string | undefined {
  return value === undefined ? undefined : validateId(value, what);
}

export function validateLimit(value: unknown, fallback: number, what = "limit"): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_LIMIT) {
    invalid(`${what} must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return value;
}

export function validateNonNegativeNumber(value: unknown, what: string, integer = false): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    invalid(`${what} must be a non-negative ${integer ? "integer" : "number"}`);
  }
  return value;
}

export function validatePrefix(value: unknown): string {
  return value === undefined ? "" : validateKey(value, "prefix", MAX_ID_CHARS, 0);
}

export function validateQuery(value: unknown): string {
  if (typeof value !== "string" || value.trim() === "") invalid("search query must be a non-empty string");
  if (value.length > MAX_QUERY_CHARS) invalid(`search query is longer than ${MAX_QUERY_CHARS} characters`);
  if (hasLoneSurrogate(value)) invalid("search query is not valid Unicode (lone surrogate)");
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Checks that a value is plain JSON (no Dates, Maps, functions, NaN, cycles) and returns it. */
export function validateJsonValue(value: unknown, what: string, seen = new Set<object>()): JsonValue {
  switch (typeof value) {
    case "string":
      if (hasLoneSurrogate(value)) invalid(`${what} is not valid Unicode (lone surrogate)`);
      return value;
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) invalid(`${what} must be a finite number`);
      return value;
    case "object": {
      if (value === null) return null;
      if (seen.has(value)) invalid(`${what} contains a cycle`);
      seen.add(value);
      if (Array.isArray(value)) value.forEach((v, i) => validateJsonValue(v, `${what}[${i}]`, seen));
      else if (isPlainObject(value)) {
        for (const [k, v] of Object.entries(value)) {
          if (hasLoneSurrogate(k)) invalid(`${what} has a key that is not valid Unicode`);
          validateJsonValue(v, `${what}.${k}`, seen);
        }
      } else invalid(`${what} must be plain JSON (got ${value.constructor?.name ?? "object"})`);
      seen.delete(value);
      return value as JsonValue;
    }
    default:
      return invalid(`${what} must be JSON (got ${typeof value})`);
  }
}

/** An optional options argument: `undefined` means none; anything else must be a plain object. */
export function validateOptions<T extends object>(value: T | undefined, what = "options"): Partial<T> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) invalid(`${what} must be an object`);
  return value;
}

export function validateMetadata(value: unknown): Metadata {
  if (value === undefined) return {};
  if (!isPlainObject(value)) invalid("metadata must be a plain object");
  validateJsonValue(value, "metadata");
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_METADATA_BYTES) {
    invalid(`metadata is larger than ${MAX_METADATA_BYTES} bytes of JSON`);
  }
  return value as Metadata;
}

export function validateMetadataKey(value: unknown): string {
  return validateKey(value, "metadata key");
}
