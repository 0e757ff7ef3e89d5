import { parseArgs } from "node:util";
import { MAGIC_WORDS_HELP } from "./fake-gemini-answers.ts";
import { FakeGeminiServer } from "./fake-gemini-server.ts";

/**
 * `npm run fake-gemini -- --port N [--latency-ms M] [--allowed-keys a,b] [--models m1,m2]`: the fake Gemini API on
 * its own, so the Gemini path runs offline with
 * `GEMINI_BASE_URL=http://127.0.0.1:N GEMINI_API_KEY=test npm start`.
 */
const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    "latency-ms": { type: "string", default: "0" },
    "allowed-keys": { type: "string" },
    models: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (values.help) {
  process.stdout.write(
    "usage: npm run fake-gemini -- --port N [--host H] [--latency-ms M] [--allowed-keys k1,k2] [--models m1,m2]\n\n" +
      "  --models   serve only these model ids (the others answer 404, in generateContent and the model listing)\n\n" +
      `magic words in a prompt:\n${MAGIC_WORDS_HELP}\n`,
  );
  process.exit(0);
}

const port = Number(values.port);
const latencyMs = Number(values["latency-ms"]);
if (!Number.isInteger(port) || port < 0 || port > 65_535 || !Number.isFinite(latencyMs) || latencyMs < 0) {
  process.stderr.write("fake-gemini: --port must be 0..65535 and --latency-ms a number >= 0\n");
  process.exit(2);
}

const fake = await FakeGeminiServer.start({
  host: values.host,
  port,
  latencyMs,
  allowedKeys: values["allowed-keys"]?.split(",").map((key) => key.trim()) ?? null,
  models: values.models?.split(",").map((model) => model.trim()) ?? null,
});
process.stdout.write(`${fake.url}\n`);
process.stderr.write(
  `fake Gemini listening on ${fake.url} (latency ${latencyMs} ms); try GEMINI_BASE_URL=${fake.url} GEMINI_API_KEY=test npm start\n`,
);

const stop = (): void => {
  fake.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
