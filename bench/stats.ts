// Latency samples, summaries, ratios and the stdout tables. Never asserts a time.

/** Latencies of one contender in milliseconds, plus the wall time its ops took (for ops/s). */
export class Samples {
  readonly ms: number[] = [];
  wallMs = 0;

  /** Times `op`, records its latency and adds it to the wall time (sequential use). */
  async time<T>(op: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const result = await op();
    const elapsed = performance.now() - start;
    this.ms.push(elapsed);
    this.wallMs += elapsed;
    return result;
  }

  /** Records one latency without touching the wall time (concurrent use: time the batch instead). */
  record(ms: number): void {
    this.ms.push(ms);
  }

  summary(): Summary {
    const sorted = [...this.ms].sort((a, b) => a - b);
    return {
      n: sorted.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      opsPerSec: this.wallMs > 0 ? (sorted.length * 1000) / this.wallMs : 0,
    };
  }
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  opsPerSec: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function ratio(value: number, reference: number): number {
  return reference > 0 ? value / reference : Number.NaN;
}

/** `[a, b, c]` rotated by `i`, so no contender always runs first (caches, noise) across iterations. */
export function rotate<T>(items: readonly T[], i: number): T[] {
  const k = i % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Runs `work(worker, i)` for i = 0..count-1 split over `concurrency` workers; returns once all finish. */
export async function runConcurrently(concurrency: number, count: number, work: (worker: number, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = next++; i < count; i = next++) await work(worker, i);
    }),
  );
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return "-";
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function times(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : "-";
}

export function count(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "-";
}

/** A fixed-width text table (also valid Markdown). */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")} |`;
  return [line(cells[0]!), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.slice(1).map(line)].join("\n");
}
