// The command line run from the TypeScript sources: `npm run dev` watches this file with tsx.
// The installed command, bin/imagegate.js, runs the compiled dist/cli/main.js instead.
import { runCli } from "./main.ts";

await runCli(process.argv);
