// Part: one long conversation. What a turn costs, and what a thread stores, as a conversation
// grows to 1,000 turns: delta checkpoints should keep both independent of its length.
import type { RowDataPacket } from "mysql2/promise";
import { defaultSearchText, jsonSerializer, mysqlCheckpointer, type MySQLCheckpointer } from "../checkpointer/index.js";
import type { AgentState } from "../app/agent/state.js";
import { startApp, stopApp } from "./app-load.js";
import { langGraphLong } from "./long-langgraph.js";
import { benchConfig, target, type BenchContext, type PartResult } from "./context.js";
import { prng, sentence, turn } from "./states.js";
import { count, ms, ratio, Samples, table, times } from "./stats.js";

const PREFIX = "long_";
const THREAD = "long-conversation";
/** p50s are taken over the `WINDOW` turns ending at each mark. */
const WINDOW = 10;
const RAW_REPS = 40;

interface Plan {
  turns: number;
  marks: number[];
  appTurns: number;
}
const FULL: Plan = { turns: 1000, marks: [10, 100, 1000], appTurns: 500 };
const QUICK: Plan = { turns: 100, marks: [10, 100], appTurns: 60 };

export async function runLongConversation(ctx: BenchContext): Promise<PartResult> {
  const title = "Part: one long conversation (delta checkpoints)";
  const plan = ctx.quick ? QUICK : FULL;
  const cp = mysqlCheckpointer<AgentState>(benchConfig(ctx.mysqlUrl, PREFIX));
  try {
    const grown = await grow(ctx, cp, plan);
    const stored = await storedBytes(cp);
    const finalBytes = Buffer.byteLength(JSON.stringify(grown.state));
    const raw = await rawReference(cp, grown.state);
    const encoding = encodingCost(grown.state);
    const app = await appTurns(ctx, plan.appTurns);
    ctx.log("  the same conversation through LangGraph's savers");
    const langGraph = await langGraphLong(ctx, plan.turns, plan.marks, WINDOW);

    const first = plan.marks[0]!;
    const last = plan.marks.at(-1)!;
    const saveGrowth = ratio(grown.saves.get(last)!.summary().p50, grown.saves.get(first)!.summary().p50);
    const storedRatio = ratio(stored.state + stored.text, finalBytes);
    const loadVsRaw = ratio(raw.load.summary().p50, raw.raw.summary().p50);
    const early = app.slice(0, 50);
    const late = app.slice(-50);
    const appGrowth = ratio(median(late), median(early));
    const [ours, postgres] = langGraph.savers;
    return {
      title,
      report: [
        `One thread, ${count(plan.turns)} turns of a realistic agent conversation (user question, tool call, tool result, answer: about 1 KB a turn), ` +
          `each turn loading the latest checkpoint and saving the next with compare-and-set, as the app does. p50 over the ${WINDOW} turns ending at each mark.`,
        table(
          ["turn", "state KB", "save p50 ms", "load p50 ms"],
          plan.marks.map((m) => [m, (grown.sizes.get(m)! / 1024).toFixed(0), ms(grown.saves.get(m)!.summary().p50), ms(grown.loads.get(m)!.summary().p50)]),
        ),
        table(
          ["stored", "bytes", "× final state"],
          [
            ["documents (snapshots and deltas)", count(stored.state), times(ratio(stored.state, finalBytes))],
            ["search text", count(stored.text), times(ratio(stored.text, finalBytes))],
            ["checkpoint rows / snapshots", `${count(stored.rows)} / ${count(stored.snapshots)}`, "-"],
          ],
        ),
        `Of a save at turn ${last}, what the API makes every save do with the whole state, serialise it (JSON) and extract its search text, takes p50 ` +
          `${ms(encoding.summary().p50)} ms here (${RAW_REPS} runs); the rest is the splice and the database.`,
        `Load of the final state (${(finalBytes / 1024).toFixed(0)} KB) against a raw primary-key SELECT of the same bytes and JSON.parse, interleaved, ${RAW_REPS} each: ` +
          `p50 ${ms(raw.load.summary().p50)} ms against ${ms(raw.raw.summary().p50)} ms.`,
        `Through the app (its own process, demo model, one client, one thread): p50 turn ${ms(median(early))} ms over turns 1–50, ${ms(median(late))} ms over turns ${plan.appTurns - 49}–${plan.appTurns}.`,
        `The same conversation through LangGraph's savers, a turn of each in turn: getTuple of the latest, then put of the next checkpoint (its \`messages\` channel changed). ` +
          `Channel-value bytes as serialised, and as stored (PostgreSQL compresses large values).` +
          (langGraph.skipped ? ` Skipped: ${langGraph.skipped}.` : ""),
        table(
          ["saver", ...plan.marks.flatMap((m) => [`put p50 ms, turn ${m}`, `getTuple p50 ms, turn ${m}`]), "channel values", "stored"],
          langGraph.savers.map((r) => [
            r.name,
            ...plan.marks.flatMap((m) => [ms(r.puts.get(m)!.summary().p50), ms(r.gets.get(m)!.summary().p50)]),
            `${count(r.blobs.bytes)} (${times(ratio(r.blobs.bytes, finalBytes))})`,
            `${count(r.blobs.stored)} (${times(ratio(r.blobs.stored, finalBytes))})`,
          ]),
        ),
      ],
      data: {
        turns: plan.turns,
        marks: Object.fromEntries(plan.marks.map((m) => [m, { bytes: grown.sizes.get(m), save: grown.saves.get(m)!.summary(), load: grown.loads.get(m)!.summary() }])),
        stored,
        finalBytes,
        raw: { load: raw.load.summary(), raw: raw.raw.summary() },
        encoding: encoding.summary(),
        app: { turns: plan.appTurns, early: median(early), late: median(late) },
        langGraph: langGraph.savers.map((r) => ({
          name: r.name,
          blobs: r.blobs,
          marks: Object.fromEntries(plan.marks.map((m) => [m, { put: r.puts.get(m)!.summary(), getTuple: r.gets.get(m)!.summary() }])),
        })),
      },
      targets: [
        target(`stored bytes of a ${plan.turns}-turn thread / its final state`, storedRatio, 3),
        target(`p50 save at turn ${last} / at turn ${first}`, saveGrowth, 1.3),
        target(`p50 load at turn ${last} / raw SELECT + JSON.parse`, loadVsRaw, 2),
        target(`app p50 turn, turns ${plan.appTurns - 49}–${plan.appTurns} / turns 1–50`, appGrowth, 1.5),
        ...(ours && postgres ? [target(`MySQLSaver p50 put at turn ${last} / PostgresSaver's`, ratio(ours.puts.get(last)!.summary().p50, postgres.puts.get(last)!.summary().p50), 1)] : []),
      ],
    };
  } finally {
    await cp.close();
  }
}

async function grow(ctx: BenchContext, cp: MySQLCheckpointer<AgentState>, plan: Plan) {
  const random = prng(7);
  const saves = new Map(plan.marks.map((m) => [m, new Samples()]));
  const loads = new Map(plan.marks.map((m) => [m, new Samples()]));
  const sizes = new Map<number, number>();
  let state: AgentState = { messages: [], iteration: 0, metadata: { title: sentence(random, 6) } };
  let parent: string | null = null;
  for (let i = 1; i <= plan.turns; i++) {
    const mark = plan.marks.find((m) => i > m - WINDOW && i <= m);
    const loaded = i === 1 ? state : await time(mark && loads.get(mark), () => cp.load(THREAD));
    state = { ...loaded!, messages: [...loaded!.messages, ...turn(random, i)] };
    parent = await time(mark && saves.get(mark), () => cp.save(state, THREAD, { parentCheckpointId: parent }));
    if (plan.marks.includes(i)) sizes.set(i, Buffer.byteLength(JSON.stringify(state)));
    if (i % 100 === 0) ctx.log(`  turn ${i}`);
  }
  return { state, saves, loads, sizes };
}

/** Times `op` into `samples` when there are samples to fill. */
function time<T>(samples: Samples | undefined | 0, op: () => Promise<T>): Promise<T> {
  return samples ? samples.time(op) : op();
}

async function storedBytes(cp: MySQLCheckpointer<AgentState>) {
  const [[row]] = await cp.backend.database.pool.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n, SUM(base_seq IS NULL) AS snapshots, SUM(LENGTH(state)) AS state, SUM(LENGTH(search_text)) AS text
     FROM \`${PREFIX}checkpoints\` WHERE thread_id = ?`,
    [THREAD],
  );
  return { rows: Number(row!.n), snapshots: Number(row!.snapshots), state: Number(row!.state), text: Number(row!.text) };
}

/** What every save does with the whole state before it reaches the store: the checkpointer's default serialiser and search text. */
export function encodingCost(state: AgentState, reps = RAW_REPS): Samples {
  const serializer = jsonSerializer<AgentState>();
  const samples = new Samples();
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    serializer.serialize(state);
    defaultSearchText(state);
    samples.record(performance.now() - start);
  }
  return samples;
}

/** The checkpointer's load of the latest state beside the floor: a raw PK SELECT of the same bytes, then JSON.parse. */
async function rawReference(cp: MySQLCheckpointer<AgentState>, state: AgentState) {
  const pool = cp.backend.database.pool;
  await pool.query("CREATE TABLE IF NOT EXISTS long_raw (id INT PRIMARY KEY, doc LONGBLOB NOT NULL)");
  await pool.query("REPLACE INTO long_raw VALUES (1, ?)", [JSON.stringify(state)]);
  const load = new Samples();
  const raw = new Samples();
  for (let i = 0; i < RAW_REPS; i++) {
    const pair = [
      () => load.time(() => cp.load(THREAD)),
      () => raw.time(async () => JSON.parse(((await pool.execute<RowDataPacket[]>("SELECT doc FROM long_raw WHERE id = ?", [1]))[0][0]!.doc as Buffer).toString("utf8"))),
    ];
    for (const op of i % 2 ? pair : pair.reverse()) await op();
  }
  return { load, raw };
}

/** One client's turns through the app on one thread; each turn's latency in ms. */
async function appTurns(ctx: BenchContext, turns: number): Promise<number[]> {
  const app = await startApp(ctx.mysqlUrl);
  const random = prng(11);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < turns; i++) {
      const start = performance.now();
      const response = await fetch(`${app.url}/threads/long-app/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ content: sentence(random, 40) }),
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`the app answered turn ${i + 1} with HTTP ${response.status}: ${app.stderr().slice(-1000)}`);
      latencies.push(performance.now() - start);
    }
  } finally {
    await stopApp(app.child);
  }
  return latencies;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}
