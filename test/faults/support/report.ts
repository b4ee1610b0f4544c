// The fault suite's figures, rendered as RELIABILITY.md only when every scenario ran and passed.
import { cpus } from "node:os";
import { join } from "node:path";
import { REPO } from "../../app/support/app-process.js";
import type { Turn } from "./load.js";

/** Where a complete run leaves its report: untracked (.gitignore), so tests never change a tracked file. */
export const RELIABILITY_RESULT = { dir: join(REPO, "test/faults/results"), file: join(REPO, "test/faults/results/RELIABILITY.md") };

export interface TurnCounts {
  attempted: number;
  /** Answered 200. */
  acknowledged: number;
  /** Answered 4xx/5xx: not applied (409) or the store was down (503). */
  refused: number;
  /** No answer: the app was killed while the request was in flight. */
  unanswered: number;
  /** Acknowledged, yet missing from the thread's history afterwards. */
  lost: number;
}

export function countTurns(turns: readonly Turn[], lost: number): TurnCounts {
  return {
    attempted: turns.length,
    acknowledged: turns.filter((t) => t.status === 200).length,
    refused: turns.filter((t) => t.status >= 400).length,
    unanswered: turns.filter((t) => t.status === 0).length,
    lost,
  };
}

export interface Section {
  title: string;
  turns?: TurnCounts;
  /** One line each: what was done and measured. */
  facts: string[];
}

export const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** One section per scenario of faults.test.ts (numbered from 1); each records it as its last step, after its assertions. */
export class ReliabilityReport {
  readonly #sections = new Map<number, Section>();
  readonly #points: readonly number[];

  constructor(points: readonly number[]) {
    this.#points = points;
  }

  record(point: number, section: Section): void {
    this.#sections.set(point, section);
  }

  /** The points that recorded nothing: skipped, failed or filtered out. */
  missing(): number[] {
    return this.#points.filter((p) => !this.#sections.has(p));
  }

  render(run: { mysqlVersion: string; date: Date; wallMs: number }): string {
    const sections = this.#points.map((p) => [p, this.#sections.get(p)!] as const);
    const counted = sections.filter(([, s]) => s.turns);
    const total = (key: keyof TurnCounts) => counted.reduce((sum, [, s]) => sum + s.turns![key], 0);
    const row = (label: string, c: (key: keyof TurnCounts) => number | string) =>
      `| ${label} | ${c("attempted")} | ${c("acknowledged")} | ${c("refused")} | ${c("unanswered")} | ${c("lost")} |`;
    return [
      "# Reliability",
      "",
      "Generated from the last run of the fault suite (`test/faults/`) in which every scenario ran and",
      "passed; do not edit it by hand. The suite writes its report to `test/faults/results/` (untracked);",
      "`npm run faults:write-md` copies it here. To run it again (the MySQL kill needs root, for",
      "`scripts/mysql-local.sh`):",
      "",
      "```sh",
      "MYSQL_URL=mysql://root@127.0.0.1:3307/agent CI=true npx vitest run test/faults",
      "npm run faults:write-md",
      "```",
      "",
      `Last run: ${run.date.toISOString().slice(0, 16).replace("T", " ")} UTC · MySQL ${run.mysqlVersion} · Node ${process.version} · ` +
        `${process.platform} ${process.arch}, ${cpus().length} CPUs · suite wall time ${seconds(run.wallMs)}.`,
      "",
      "## Turns",
      "",
      "| scenario | attempted | acknowledged (200) | refused (409/503) | no answer | lost |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      ...counted.map(([p, s]) => row(`${p}. ${s.title}`, (key) => s.turns![key])),
      row("**all**", (key) => `**${total(key)}**`),
      "",
      "*Refused*: 409, the turn lost the race against another writer and was not applied; 503, MySQL",
      "was down. *No answer*: the app was killed while the request was in flight. *Lost*: acknowledged",
      "with a 200, yet missing from the thread's history afterwards.",
      "",
      "## Faults and checks",
      ...sections.flatMap(([p, s]) => ["", `### ${p}. ${s.title}`, "", ...s.facts.map((f) => `- ${f}`)]),
      "",
    ].join("\n");
  }
}
