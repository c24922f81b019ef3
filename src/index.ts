#!/usr/bin/env bun
import { processIO } from "./cli/io";
import { runCli } from "./cli/program";

// The only place that exits the process. (No top-level await: the executable is compiled to
// bytecode, which starts faster and does not support it.)
void runCli(process.argv.slice(2), processIO).then((code) => process.exit(code));
