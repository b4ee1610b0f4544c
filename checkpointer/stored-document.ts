// How a document is stored in a row, for every store (MySQL, SQLite, LangGraph's channel values):
// whole or as a splice of a base row it names, compressed when that is smaller, with the length
// and CRC-32 of the document it produces, so a read that does not rebuild exactly that document
// fails with CORRUPT instead of returning a wrong state.
import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";
import { applyChain, type Chain, type Splice } from "./delta.js";
import { CheckpointerError } from "./errors.js";

/** How a row's bytes are encoded: as they are, or raw DEFLATE (RFC 1951). */
export const Encoding = { raw: 0, deflate: 1 } as const;
export type Encoding = (typeof Encoding)[keyof typeof Encoding];

/** Below this many bytes compression saves too little to be worth a save's time. */
const COMPRESS_FROM = 512;

/** A document's length and CRC-32: what a row records of the document it produces. */
export interface DocumentCheck {
  bytes: number;
  crc32: number;
}

export const checkOf = (document: Buffer): DocumentCheck => ({ bytes: document.length, crc32: crc32(document) });

/** Bytes as a row stores them: DEFLATE when that is smaller, else as they are. */
export function encode(bytes: Buffer): { data: Buffer; encoding: Encoding } {
  if (bytes.length >= COMPRESS_FROM) {
    const deflated = deflateRawSync(bytes, { level: 1 });
    if (deflated.length < bytes.length) return { data: deflated, encoding: Encoding.deflate };
  }
  return { data: bytes, encoding: Encoding.raw };
}

/** One stored row of a chain: the snapshot (no splice) or a delta of the row before it. */
export interface StoredPiece {
  data: Buffer;
  encoding: number;
  /** The base's bytes a delta keeps; null for a whole document. */
  splice: { prefix: number; suffix: number } | null;
  /** What the row's document must be; null for rows written before checks were stored. */
  check: DocumentCheck | null;
}

/**
 * A document from its chain, the snapshot first, verified against what its last row recorded,
 * with the chain's sizes (what a delta of it goes on from). `what` names the document in errors.
 */
export function assemble(pieces: readonly StoredPiece[], what: string): { document: Buffer; chain: Chain } {
  const [snapshot, ...deltas] = pieces;
  if (snapshot === undefined || snapshot.splice !== null) throw corrupt(what, "its chain does not start with a whole document");
  const splices: Splice[] = deltas.map((piece) => {
    if (piece.splice === null) throw corrupt(what, "a whole document in the middle of its chain");
    return { ...piece.splice, middle: decode(piece, what) };
  });
  const base = decode(snapshot, what);
  let document: Buffer;
  try {
    document = applyChain(base, splices);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw corrupt(what, "a splice does not fit its base");
  }
  const check = pieces.at(-1)!.check;
  if (check !== null && (document.length !== check.bytes || crc32(document) !== check.crc32)) {
    throw corrupt(what, `rebuilt ${document.length} bytes that do not match the recorded ${check.bytes} bytes and checksum`);
  }
  const deltaBytes = splices.reduce((n, s) => n + s.middle.length, 0);
  return { document, chain: { snapshotBytes: base.length, deltaBytes, deltas: splices.length } };
}

/**
 * The rows of one chain as a recursive query returns them (any order), put in order from the
 * snapshot to `target`, by following each row's named base. A base that is not among them (a
 * row removed without mending its dependants) is CORRUPT.
 */
export function orderChain<R, K>(rows: readonly R[], target: K, keyOf: (row: R) => K, baseOf: (row: R) => K | null, what: string): R[] {
  const byKey = new Map(rows.map((r) => [keyOf(r), r]));
  const chain: R[] = [];
  for (let key: K | null = target; key !== null; ) {
    const row = byKey.get(key);
    if (row === undefined) throw corrupt(what, chain.length === 0 ? "its row is missing" : "a base row of its chain is missing");
    if (chain.length > rows.length) throw corrupt(what, "its chain has a cycle");
    chain.push(row);
    key = baseOf(row);
  }
  return chain.reverse();
}

function decode(piece: StoredPiece, what: string): Buffer {
  if (piece.encoding === Encoding.raw) return piece.data;
  if (piece.encoding !== Encoding.deflate) throw corrupt(what, `unknown encoding ${piece.encoding}`);
  try {
    return inflateRawSync(piece.data);
  } catch {
    throw corrupt(what, "compressed bytes do not inflate");
  }
}

function corrupt(what: string, why: string): CheckpointerError {
  return new CheckpointerError("CORRUPT", `${what} cannot be rebuilt: ${why}; restore it from a backup`);
}
