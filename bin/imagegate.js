#!/usr/bin/env node
// Entry point of the `imagegate` command: loads the TypeScript sources through tsx.
import { register } from "tsx/esm/api";

register();
const { runCli } = await import("../src/cli/main.ts");
await runCli(process.argv);
