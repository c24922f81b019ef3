#!/usr/bin/env bun
import { processIO } from "./cli/io";
import { runCli } from "./cli/program";

// The only place that exits the process.
process.exit(await runCli(process.argv.slice(2), processIO));
