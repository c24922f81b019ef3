import type { Logger } from "./log";

/** Set in a worker's environment to its index; the serve command then only listens. */
export const WORKER_INDEX_ENV = "DATASTORE_WORKER_INDEX";

const RESTART_DELAY_MS = 1000;
const STOP_GRACE_MS = 30_000;

/** The command line that runs this same program (the executable alone, or bun + the script). */
function selfCommand(): string[] {
  const script = process.argv[1];
  // Inside the compiled executable the entry script is embedded under /$bunfs/.
  return script && !script.startsWith("/$bunfs/") ? [process.execPath, script] : [process.execPath];
}

/**
 * Runs `count` copies of this program with the same arguments, each told its index, sharing
 * the port (SO_REUSEPORT) and the database file. A worker that dies is started again.
 */
export function superviseWorkers(count: number, args: string[], env: Record<string, string | undefined>, logger: Logger) {
  let stopping = false;
  const workers: (ReturnType<typeof Bun.spawn> | null)[] = new Array(count).fill(null);

  function start(index: number) {
    const child = Bun.spawn([...selfCommand(), ...args], {
      env: { ...env, [WORKER_INDEX_ENV]: String(index) },
      stdio: ["ignore", "inherit", "inherit"],
    });
    workers[index] = child;
    child.exited.then((code) => {
      if (stopping) return;
      logger.error("worker exited; starting it again", { worker: index, code });
      setTimeout(() => !stopping && start(index), RESTART_DELAY_MS);
    });
  }

  for (let i = 0; i < count; i++) start(i);
  logger.info("started workers", { workers: count });

  return {
    /** SIGTERM to every worker (each finishes its in-flight requests), then waits for them. */
    async stop() {
      stopping = true;
      const running = workers.filter((child) => child !== null);
      for (const child of running) child.kill("SIGTERM");
      const killer = setTimeout(() => running.forEach((child) => child.kill("SIGKILL")), STOP_GRACE_MS);
      await Promise.all(running.map((child) => child.exited));
      clearTimeout(killer);
    },
  };
}
