// Every child process the harness starts goes through `start`, so that each one can be
// stopped by its PID: in a finally block, or at once on Ctrl-C.
import type { Subprocess } from "bun";
import { closeSync, openSync } from "node:fs";

const running = new Set<Subprocess>();
let interrupted = false;

export class Interrupted extends Error {}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Appends the child's stdout and stderr to this file; default: both to our stderr. */
  logFile?: string;
  /** Keeps the child's stdout to read (wrk's report). */
  captureStdout?: boolean;
}

export function start(cmd: string[], options: StartOptions = {}): Subprocess {
  const fd = options.logFile ? openSync(options.logFile, "a") : 2;
  try {
    const proc = Bun.spawn(cmd, {
      env: options.env ?? process.env,
      stdin: "ignore",
      stdout: options.captureStdout ? "pipe" : fd,
      stderr: fd,
    });
    running.add(proc);
    void proc.exited.then(() => running.delete(proc));
    return proc;
  } finally {
    if (fd !== 2) closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stop(proc: Subprocess, graceMs = 5000): Promise<void> {
  if (!running.has(proc)) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((proc) => stop(proc)));
}

/** Runs a command to completion with its output on our stderr; throws on a non-zero exit. */
export async function run(cmd: string[], options: StartOptions = {}): Promise<void> {
  const code = await start(cmd, options).exited;
  checkInterrupted();
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited with ${code}`);
}

/**
 * First Ctrl-C (or SIGTERM): kill every child by PID, so whatever awaits them returns, and
 * make the next checkInterrupted() throw, so finally blocks run. Another one a second later
 * exits at once (the first often arrives twice: from the terminal and from `bun run`).
 */
export function handleSignals(): void {
  let firstAt = 0;
  const onSignal = () => {
    if (interrupted) {
      if (performance.now() - firstAt > 1000) process.exit(130);
      return;
    }
    interrupted = true;
    firstAt = performance.now();
    console.error("\ninterrupted: stopping every started process");
    for (const proc of running) proc.kill("SIGKILL");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

export function checkInterrupted(): void {
  if (interrupted) throw new Interrupted("interrupted");
}

/** VmRSS of a live process in KiB, or null once it is gone. */
export async function rssKb(pid: number): Promise<number | null> {
  try {
    const status = await Bun.file(`/proc/${pid}/status`).text();
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
