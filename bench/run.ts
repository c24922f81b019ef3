// `bun run bench [--quick] [--only get,put,list,mix]`: Datastore against the measuring stick
// (bench/stick.ts), servers on core 0 and wrk on core 1. Tables go to stdout, progress to
// stderr, raw wrk reports and a JSON summary to bench/results/<time>/. See bench/README.md.
import { copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BENCH_TOKEN, preload } from "./preload";
import { checkInterrupted, handleSignals, Interrupted, run, stop, stopAll } from "./processes";
import { formatMb, formatMs, formatRatio, formatRps, markdownTable, median, summarize, type CellStats } from "./report";
import {
  coldStartMs, DATASTORE_BINARY, freePort, startServer, withRssSampling,
  type Durability, type Server, type ServerSpec, type TargetName,
} from "./servers";
import { parseWrk, runWrk, type WrkRun } from "./wrk";

const WORKLOADS = ["get", "put", "list", "mix"] as const;
type Workload = (typeof WORKLOADS)[number];
/** `list-ns` (list with a namespace) is only measured on one connection, next to `list`. */
type Script = Workload | "list-ns";

const TARGETS: TargetName[] = ["datastore", "stick"];
const CONNECTIONS = [32, 128];
const SMALL = 10_000;
const LARGE = 1_000_000;
const COLD_STARTS = 5;

interface Plan {
  scales: number[];
  runs: number;
  seconds: number;
  warmupSeconds: number;
  workloads: Workload[];
}

interface Cell {
  scale: number;
  durability: Durability;
  script: Script;
  connections: number;
  /** Missing for a target that refused to start (reported as n/a). */
  results: Partial<Record<TargetName, { stats: CellStats; runs: WrkRun[] }>>;
}

interface Base {
  file: string;
  orgId: string;
}

interface Context {
  plan: Plan;
  dir: string;
  bases: Map<number, Base>;
  cells: Cell[];
  /** RSS per scale and target, KiB. */
  resources: Record<string, Partial<Record<TargetName, { idleKb: number | null; maxUnderLoadKb: number }>>>;
  coldStartsMs: number[];
}

function parseOptions(argv: string[]): Plan {
  const { values } = parseArgs({ args: argv, options: { quick: { type: "boolean", default: false }, only: { type: "string" } } });
  const workloads = values.only ? values.only.split(",").map((w) => w.trim()) : [...WORKLOADS];
  const unknown = workloads.filter((w) => !(WORKLOADS as readonly string[]).includes(w));
  if (unknown.length > 0) {
    console.error(`--only takes a comma-separated list of ${WORKLOADS.join(", ")}; unknown: ${unknown.join(", ")}`);
    process.exit(2);
  }
  return values.quick
    ? { scales: [SMALL], runs: 1, seconds: 5, warmupSeconds: 1, workloads: workloads as Workload[] }
    : { scales: [SMALL, LARGE], runs: 3, seconds: 10, warmupSeconds: 3, workloads: workloads as Workload[] };
}

const command = () => ["bun run bench", ...process.argv.slice(2)].join(" ");
const log = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
const scaleLabel = (scale: number) => (scale >= 1_000_000 ? `${scale / 1_000_000}M` : `${scale / 1000}k`);

async function ensureWrk(): Promise<void> {
  if (Bun.which("wrk")) return;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  log("installing wrk with apt-get");
  try {
    await run(["apt-get", "install", "-y", "wrk"], { env });
  } catch (error) {
    if (error instanceof Interrupted) throw error;
    await run(["apt-get", "update"], { env });
    await run(["apt-get", "install", "-y", "wrk"], { env });
  }
}

function preloadBases(ctx: Context): void {
  for (const scale of ctx.plan.scales) {
    const started = performance.now();
    const file = join(ctx.dir, "data", `base-${scaleLabel(scale)}.db`);
    const { orgId } = preload(file, scale);
    ctx.bases.set(scale, { file, orgId });
    log(`preloaded ${scale.toLocaleString("en-US")} entries in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

/** A fresh copy of a preloaded database, so no run sees another's writes. */
function copyBase(ctx: Context, scale: number, name: string, durability: Durability = "normal"): ServerSpec & { cleanup(): void } {
  const base = ctx.bases.get(scale)!;
  const db = join(ctx.dir, "data", `${name}.db`);
  copyFileSync(base.file, db);
  return {
    port: freePort(),
    db,
    durability,
    orgId: base.orgId,
    token: BENCH_TOKEN,
    logFile: join(ctx.dir, "logs", `${name}.log`),
    cleanup: () => ["", "-wal", "-shm"].forEach((suffix) => rmSync(db + suffix, { force: true })),
  };
}

/** Starts both targets on their own copies of the database, runs `work`, stops them. */
async function withServers(ctx: Context, scale: number, durability: Durability, work: (servers: Server[]) => Promise<void>) {
  checkInterrupted();
  const specs = TARGETS.map((target) => ({ target, spec: copyBase(ctx, scale, `${target}-${scaleLabel(scale)}-${durability}`, durability) }));
  const servers: Server[] = [];
  try {
    for (const { target, spec } of specs) {
      const server = await startServer(target, spec);
      if (server) servers.push(server);
      else log(`${target} exited at start (durability ${durability}): its rows are n/a; see ${spec.logFile}`);
    }
    await work(servers);
  } finally {
    for (const server of servers) await stop(server.proc);
    for (const { spec } of specs) spec.cleanup();
  }
}

/** Warm-up, then the runs, alternating between the targets so drift on the machine hits both alike. */
async function measureCell(ctx: Context, servers: Server[], cell: Omit<Cell, "results">): Promise<void> {
  const { plan } = ctx;
  const name = `${scaleLabel(cell.scale)}-${cell.durability}-${cell.script}-c${cell.connections}`;
  const wrk = (server: Server, seconds: number) =>
    withRssSampling(server, () =>
      runWrk({
        url: server.url,
        script: `bench/lua/${cell.script}.lua`,
        scriptArgs: [String(cell.scale), BENCH_TOKEN],
        connections: cell.connections,
        seconds,
      }),
    );
  for (const server of servers) await wrk(server, plan.warmupSeconds);
  const runs = new Map<TargetName, WrkRun[]>(servers.map((server) => [server.target, []]));
  for (let i = 1; i <= plan.runs; i++) {
    for (const server of servers) {
      const output = await wrk(server, plan.seconds);
      writeFileSync(join(ctx.dir, "raw", `${name}-${server.target}-run${i}.txt`), output);
      runs.get(server.target)!.push(parseWrk(output));
    }
  }
  const results: Cell["results"] = {};
  for (const [target, targetRuns] of runs) results[target] = { stats: summarize(targetRuns), runs: targetRuns };
  ctx.cells.push({ ...cell, results });
  const brief = servers.map((s) => `${s.target} ${formatRps(results[s.target]?.stats)} req/s`).join(", ");
  log(`${name}: ${brief}`);
}

async function measureScale(ctx: Context, scale: number): Promise<void> {
  const workloads = scale === SMALL ? ctx.plan.workloads : ctx.plan.workloads.filter((w) => w === "get" || w === "list");
  const listing = ctx.plan.workloads.includes("list");
  if (workloads.length === 0 && !listing) return;
  await withServers(ctx, scale, "normal", async (servers) => {
    for (const script of workloads) {
      for (const connections of CONNECTIONS) await measureCell(ctx, servers, { scale, durability: "normal", script, connections });
    }
    if (listing) {
      for (const script of ["list", "list-ns"] as const) await measureCell(ctx, servers, { scale, durability: "normal", script, connections: 1 });
    }
    ctx.resources[scale] = Object.fromEntries(servers.map((s) => [s.target, { idleKb: s.rssIdleKb, maxUnderLoadKb: s.rssMaxKb }]));
  });
}

async function measureFullDurability(ctx: Context): Promise<void> {
  if (!ctx.plan.workloads.includes("put")) return;
  await withServers(ctx, SMALL, "full", async (servers) => {
    for (const connections of CONNECTIONS) await measureCell(ctx, servers, { scale: SMALL, durability: "full", script: "put", connections });
  });
}

async function measureColdStarts(ctx: Context): Promise<void> {
  const spec = copyBase(ctx, SMALL, "datastore-cold-start");
  try {
    for (let i = 0; i < COLD_STARTS; i++) ctx.coldStartsMs.push(await coldStartMs({ ...spec, port: freePort() }));
  } finally {
    spec.cleanup();
  }
  log(`cold starts (ms): ${ctx.coldStartsMs.map((ms) => ms.toFixed(0)).join(", ")}`);
}

// ---- report ----

const findCell = (ctx: Context, scale: number, durability: Durability, script: Script, connections: number) =>
  ctx.cells.find((c) => c.scale === scale && c.durability === durability && c.script === script && c.connections === connections);

/** Datastore next to the stick, one row per cell. */
function comparisonTable(title: string, cells: Cell[]): string {
  const rows = cells.map((cell) => {
    const d = cell.results.datastore?.stats;
    const s = cell.results.stick?.stats;
    return [
      cell.script, String(cell.connections),
      formatRps(d), formatMs(d?.p50Ms), formatMs(d?.p99Ms),
      formatRps(s), formatMs(s?.p50Ms), formatMs(s?.p99Ms),
      formatRatio(d?.rpsMedian, s?.rpsMedian),
      `${d?.errors ?? "n/a"} / ${s?.errors ?? "n/a"}`,
    ];
  });
  return markdownTable(title, [
    "workload", "conns", "Datastore req/s", "p50 ms", "p99 ms", "stick req/s", "p50 ms", "p99 ms", "Datastore / stick", "errors D / S",
  ], rows);
}

function scaleTable(ctx: Context): string {
  const rows: string[][] = [];
  for (const script of ["get", "list"] as const) {
    for (const connections of CONNECTIONS) {
      for (const target of TARGETS) {
        const small = findCell(ctx, SMALL, "normal", script, connections)?.results[target]?.stats;
        const large = findCell(ctx, LARGE, "normal", script, connections)?.results[target]?.stats;
        if (!small && !large) continue;
        rows.push([
          script, String(connections), target,
          formatRps(small), formatRps(large), formatRatio(large?.rpsMedian, small?.rpsMedian),
          formatMs(small?.p50Ms), formatMs(large?.p50Ms), formatRatio(large?.p50Ms, small?.p50Ms), formatMs(large?.p99Ms),
          String(large?.errors ?? "n/a"),
        ]);
      }
    }
  }
  return markdownTable("Scale: 10k vs 1M entries", [
    "workload", "conns", "target", "10k req/s", "1M req/s", "1M / 10k", "10k p50 ms", "1M p50 ms", "p50 1M / 10k", "1M p99 ms", "1M errors",
  ], rows);
}

function oneConnectionTable(ctx: Context): string {
  const rows: string[][] = [];
  for (const scale of ctx.plan.scales) {
    for (const script of ["list", "list-ns"] as const) {
      const cell = findCell(ctx, scale, "normal", script, 1);
      if (!cell) continue;
      const d = cell.results.datastore?.stats;
      const s = cell.results.stick?.stats;
      rows.push([
        script, scaleLabel(scale),
        formatRps(d), formatMs(d?.p50Ms), formatMs(d?.p99Ms),
        formatRps(s), formatMs(s?.p50Ms), formatMs(s?.p99Ms),
        formatRatio(d?.rpsMedian, s?.rpsMedian),
      ]);
    }
  }
  return markdownTable("List on one connection (list: no namespace; list-ns: namespace=default)", [
    "workload", "entries", "Datastore req/s", "p50 ms", "p99 ms", "stick req/s", "p50 ms", "p99 ms", "Datastore / stick",
  ], rows);
}

function resourcesTable(ctx: Context, executableBytes: number): string {
  const rows: string[][] = [];
  for (const scale of ctx.plan.scales) {
    const usage = ctx.resources[scale];
    if (!usage) continue;
    for (const target of TARGETS) {
      rows.push([`${target} RSS idle after start, ${scaleLabel(scale)} entries`, `${formatMb(usage[target]?.idleKb)} MB`]);
      rows.push([`${target} RSS max under load, ${scaleLabel(scale)} entries`, `${formatMb(usage[target]?.maxUnderLoadKb)} MB`]);
    }
  }
  const starts = ctx.coldStartsMs;
  rows.push([
    `Datastore exec to first 200 from /healthz (median of ${starts.length}, min–max)`,
    `${formatMs(median(starts))} ms (${formatMs(Math.min(...starts))}–${formatMs(Math.max(...starts))})`,
  ]);
  rows.push(["Datastore executable size", `${(executableBytes / 1024 / 1024).toFixed(1)} MB`]);
  return markdownTable("Resources", ["measure", "value"], rows);
}

function report(ctx: Context, executableBytes: number): string {
  const { plan } = ctx;
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const runs = plan.runs > 1 ? `median of ${plan.runs} runs of ${plan.seconds} s (min–max)` : `1 run of ${plan.seconds} s`;
  const sections = [
    `## Datastore benchmark, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
    `Machine: ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Bun ${Bun.version}. ` +
      `Servers on core 0, \`wrk -t1\` on core 1. Requests/s: ${runs}; p50/p99: medians. ` +
      `"errors": non-2xx responses plus socket errors over the measured runs. Command: \`${command()}\`.`,
    "",
  ];
  const matrix = (durability: Durability, connections: number[]) =>
    ctx.cells.filter((c) => c.scale === SMALL && c.durability === durability && connections.includes(c.connections));
  if (matrix("normal", CONNECTIONS).length) sections.push(comparisonTable("Throughput, 10k entries, durability normal", matrix("normal", CONNECTIONS)));
  if (matrix("full", CONNECTIONS).length) sections.push(comparisonTable("PUT with --durability full, 10k entries", matrix("full", CONNECTIONS)));
  if (plan.scales.includes(LARGE)) sections.push(scaleTable(ctx));
  if (ctx.cells.some((c) => c.connections === 1)) sections.push(oneConnectionTable(ctx));
  sections.push(resourcesTable(ctx, executableBytes));
  return sections.join("\n");
}

function estimateMinutes(plan: Plan): number {
  const cellSeconds = TARGETS.length * (plan.warmupSeconds + plan.runs * plan.seconds);
  const small = plan.workloads.length * CONNECTIONS.length + (plan.workloads.includes("put") ? CONNECTIONS.length : 0);
  const large = plan.scales.includes(LARGE) ? plan.workloads.filter((w) => w === "get" || w === "list").length * CONNECTIONS.length : 0;
  const oneConnection = plan.workloads.includes("list") ? 2 * plan.scales.length : 0;
  return Math.ceil(((small + large + oneConnection) * cellSeconds) / 60);
}

async function main(): Promise<void> {
  process.chdir(join(import.meta.dir, ".."));
  const plan = parseOptions(process.argv.slice(2));
  handleSignals();
  const started = new Date();
  const dir = join("bench", "results", started.toISOString().slice(0, 19).replaceAll(":", "-"));
  for (const sub of ["raw", "logs", "data"]) mkdirSync(join(dir, sub), { recursive: true });
  const ctx: Context = { plan, dir, bases: new Map(), cells: [], resources: {}, coldStartsMs: [] };
  log(`results in ${dir}; the measurements take about ${estimateMinutes(plan)} min`);
  try {
    await ensureWrk();
    await run([process.execPath, "run", "build"]);
    preloadBases(ctx);
    for (const scale of plan.scales) await measureScale(ctx, scale);
    await measureFullDurability(ctx);
    await measureColdStarts(ctx);
    const executableBytes = statSync(DATASTORE_BINARY).size;
    const markdown = report(ctx, executableBytes);
    console.log(markdown);
    writeFileSync(join(dir, "report.md"), markdown);
    const finished = new Date();
    const summary = {
      startedAt: started.toISOString(),
      durationSeconds: Math.round((finished.getTime() - started.getTime()) / 1000),
      command: command(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryBytes: os.totalmem(), kernel: os.release(), bun: Bun.version },
      plan,
      executableBytes,
      coldStartsMs: ctx.coldStartsMs,
      resources: ctx.resources,
      cells: ctx.cells,
    };
    writeFileSync(join(dir, "summary.json"), JSON.stringify(summary, null, 2));
    log(`done in ${summary.durationSeconds} s; raw wrk reports and summary.json in ${dir}`);
  } finally {
    await stopAll();
    rmSync(join(dir, "data"), { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Interrupted ? "interrupted" : error);
  process.exit(error instanceof Interrupted ? 130 : 1);
}
