// What every part of the bench receives, and the result shape each returns.
import { MySQLConfig } from "../checkpointer/index.js";

export interface BenchContext {
  quick: boolean;
  /** The bench's own database (created for this run, dropped after). */
  mysqlUrl: string;
  /** PostgreSQL server for the LangGraph peer (a fresh database is made on it). */
  postgresUrl: string;
  log: (line: string) => void;
}

/** One part's outcome: tables for stdout/Markdown, the raw figures for JSON, and its verdicts. */
export interface PartResult {
  title: string;
  /** Markdown tables and notes, in order. */
  report: string[];
  data: unknown;
  /** Set when the part could not run (a server or component is missing). */
  skipped?: string;
  /** Targets the bench holds the module to (BENCHMARKS.md says why each): name, measured ratio, limit. */
  targets?: Target[];
  /** What makes the run fail (exit code 1): a full table scan, wrong results. */
  failures?: string[];
}

export interface Target {
  name: string;
  value: number;
  limit: number;
  /** "max": value must be ≤ limit (ratios of our time to a reference). */
  met: boolean;
}

export function target(name: string, value: number, limit: number): Target {
  return { name, value, limit, met: value <= limit };
}

/** The checkpointer config for the bench database; a bigger pool than the default for concurrency 16. */
export function benchConfig(url: string, tablePrefix = "cp_"): MySQLConfig {
  return MySQLConfig.fromUrl(url).with({ tablePrefix, connectionLimit: 16 });
}
