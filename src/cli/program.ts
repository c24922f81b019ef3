import { Command, CommanderError } from "commander";
import { UsageError } from "../config";
import { NewerDatabaseError } from "../db/migrate";
import { VERSION } from "../version";
import type { CliIO } from "./io";
import { registerKeys } from "./keys";
import { registerMigrate } from "./migrate";
import { registerOrgs } from "./orgs";
import { registerServe } from "./serve";

/** Builds the command tree. Commander's own errors are thrown (exitOverride), never exited on. */
function buildProgram(io: CliIO): Command {
  const program = new Command("datastore")
    .description("Self-hosted key-value Datastore API (Hooklistener-compatible) in one executable")
    .version(VERSION, "-v, --version")
    .exitOverride()
    .showSuggestionAfterError(false)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  registerServe(program, io);
  registerOrgs(program, io);
  registerKeys(program, io);
  registerMigrate(program, io);
  // Subcommands inherit the same settings so their errors are thrown, too.
  for (const command of program.commands) {
    command.exitOverride().showSuggestionAfterError(false).configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
    for (const sub of command.commands) sub.exitOverride().showSuggestionAfterError(false).configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  }
  return program;
}

/** Runs one command line; returns the exit code (0 ok, 1 failure, 2 bad usage). */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const program = buildProgram(io);
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; it has already printed them.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      io.stderr(`error: ${error.message}\n`);
      return 2;
    }
    io.stderr(`error: ${error instanceof NewerDatabaseError ? error.message : (error as Error).message}\n`);
    return 1;
  }
}
