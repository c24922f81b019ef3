import type { Env } from "../config";

/** What a command may touch: its environment and its two output streams. */
export interface CliIO {
  env: Env;
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIO: CliIO = {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};
