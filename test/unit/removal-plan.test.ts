// planRemoval, property-tested: random histories shaped as the storage engine writes them (deltas
// of the row before, text runs of appended lines, gaps left by earlier removals), random sets of
// removed rows (runs, scattered rows, the latest, everything), the plan applied as a store would
// apply it; then every surviving row must still rebuild its document and its whole text.
import { describe, expect, it } from "vitest";
import { planRemoval, type HistoryLink } from "../../checkpointer/removal-plan.js";

/** A stored row: its links, and what it holds (its own line of text, or its whole text). */
interface Row extends HistoryLink {
  line: string;
  storedText: string;
}

function random(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

/** A history as saves make it: each row a delta of the one before or a snapshot, its text appended or whole. */
function history(next: () => number, length: number): Row[] {
  const rows: Row[] = [];
  let seq = 0;
  for (let i = 0; i < length; i++) {
    seq += 1 + (next() < 0.2 ? Math.floor(next() * 3) : 0);
    const previous = rows.at(-1);
    const line = `line ${seq}`;
    const appended = previous !== undefined && next() < 0.8;
    const textRootSeq = appended ? (previous.textRootSeq ?? previous.seq) : null;
    const whole = appended ? "" : [...wholeTextLines(rows, previous), line].join("\n");
    rows.push({ seq, baseSeq: previous && next() < 0.8 ? previous.seq : null, textRootSeq, line, storedText: appended ? line : whole });
  }
  return rows;
}

/** A row's whole text as a store reads it: the stored texts of the rows from its root to it, by seq. */
function wholeText(rows: readonly Row[], row: Row): string {
  const root = row.textRootSeq ?? row.seq;
  return rows.filter((r) => r.seq >= root && r.seq <= row.seq).map((r) => r.storedText).filter((t) => t !== "").join("\n");
}

const wholeTextLines = (rows: readonly Row[], last: Row | undefined) => (last ? wholeText(rows, last).split("\n") : []);

/** Whether a row's document can be rebuilt: its bases lead to a whole document through rows that exist. */
function rebuildable(rows: readonly Row[], row: Row): boolean {
  const bySeq = new Map(rows.map((r) => [r.seq, r]));
  for (let at: Row | undefined = row; at; at = at.baseSeq === null ? undefined : bySeq.get(at.baseSeq)) {
    if (at.baseSeq === null) return true;
    if (!bySeq.has(at.baseSeq)) return false;
  }
  return false;
}

/** Applies a plan as the engine does: everything read first, then the steps in order. */
function apply(rows: Row[], doomed: ReadonlySet<number>): { rows: Row[]; removed: number; latestSeq: number | null } {
  const plan = planRemoval(rows, doomed);
  const texts = new Map(plan.steps.flatMap((s) => (s.op === "indexWhole" ? [[s.seq, wholeText(rows, rows.find((r) => r.seq === s.seq)!)] as const] : [])));
  let after = rows.map((r) => ({ ...r }));
  for (const step of plan.steps) {
    if (step.op === "storeWhole") after.find((r) => r.seq === step.seq)!.baseSeq = null;
    else if (step.op === "indexWhole") Object.assign(after.find((r) => r.seq === step.seq)!, { storedText: texts.get(step.seq)!, textRootSeq: null });
    else if (step.op === "moveTextRoot") {
      for (const r of after) if (r.textRootSeq === step.from && r.seq > step.after && r.seq <= step.upTo) r.textRootSeq = step.to;
    } else after = after.filter((r) => r.seq < step.first || r.seq > step.last);
  }
  return { rows: after, removed: plan.removed, latestSeq: plan.latestSeq };
}

describe("planRemoval", () => {
  it("leaves every surviving row rebuildable and its text whole, for any set of removed rows, again and again", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const next = random(seed);
      let rows = history(next, 1 + Math.floor(next() * 40));
      const expected = new Map(rows.map((r) => [r.seq, wholeText(rows, r)]));
      for (let round = 0; round < 3 && rows.length > 0; round++) {
        const kind = next();
        const doomed = new Set(
          rows
            .filter((r, i) => (kind < 0.3 ? next() < 0.3 : kind < 0.6 ? i >= rows.length / 3 && i < rows.length / 2 : kind < 0.8 ? i % 3 === 1 : next() < 0.9))
            .map((r) => r.seq),
        );
        const result = apply(rows, doomed);
        expect(result.removed, `seed ${seed}`).toBe(doomed.size);
        expect(result.rows.map((r) => r.seq), `seed ${seed}`).toEqual(rows.filter((r) => !doomed.has(r.seq)).map((r) => r.seq));
        expect(result.latestSeq, `seed ${seed}`).toBe(result.rows.at(-1)?.seq ?? null);
        rows = result.rows;
        for (const row of rows) {
          expect(rebuildable(rows, row), `seed ${seed} round ${round} seq ${row.seq}`).toBe(true);
          expect(wholeText(rows, row), `seed ${seed} round ${round} seq ${row.seq}`).toBe(expected.get(row.seq));
        }
      }
    }
  });

  it("touches nothing but the removed rows when no survivor depended on them", () => {
    const rows: HistoryLink[] = [
      { seq: 1, baseSeq: null, textRootSeq: null },
      { seq: 2, baseSeq: 1, textRootSeq: 1 },
      { seq: 3, baseSeq: null, textRootSeq: null },
      { seq: 4, baseSeq: 3, textRootSeq: 3 },
    ];
    expect(planRemoval(rows, new Set([1, 2]))).toEqual({ steps: [{ op: "delete", first: 1, last: 2 }], removed: 2, latestSeq: 4 });
  });

  it("mends the row after a removed run: whole document, whole text, and the rest of its run rooted on it", () => {
    const rows: HistoryLink[] = [1, 2, 3, 4, 5].map((seq) => ({ seq, baseSeq: seq === 1 ? null : seq - 1, textRootSeq: seq === 1 ? null : 1 }));
    expect(planRemoval(rows, new Set([2, 3])).steps).toEqual([
      { op: "storeWhole", seq: 4 },
      { op: "indexWhole", seq: 4 },
      { op: "moveTextRoot", from: 1, to: 4, after: 4, upTo: 5 },
      { op: "delete", first: 2, last: 3 },
    ]);
  });
});
