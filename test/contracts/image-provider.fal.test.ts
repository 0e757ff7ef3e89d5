import pino from "pino";
import { FalImageProvider } from "../../src/providers/fal/fal-image-provider.ts";
import { FAL_DEFAULT_MODELS } from "../../src/providers/fal/fal-models.ts";
import { FakeFalServer, type FakeFalAnswer } from "../fakes/fake-fal-server.ts";
import { imageProviderContract, type ScriptedAnswer, type UpstreamFake } from "./image-provider.contract.ts";

function falAnswer(answer: ScriptedAnswer): FakeFalAnswer {
  switch (answer.kind) {
    case "image":
      return { kind: "image" };
    case "refusal":
      return { kind: "content-policy" };
    case "rate-limit":
      return { kind: "rate-limited", retryAfterSeconds: answer.retryAfterSeconds };
    case "server-error":
      return { kind: "status", status: answer.status ?? 500 };
    case "hang":
      // A queue's way of hanging: the job never leaves IN_PROGRESS.
      return { kind: "stuck" };
    case "garbage":
      return { kind: "malformed-result" };
    case "bad-credentials":
      return { kind: "bad-key" };
  }
}

imageProviderContract("fal (queue API)", async () => {
  const server = await FakeFalServer.start({ allowedKeys: ["contract-key"] });
  const fake: UpstreamFake = {
    url: server.url,
    script: (...answers) => server.enqueue(...answers.map(falAnswer)),
    get generationRequests() {
      return server.submits.length;
    },
    get lastGeneration() {
      const last = server.submits.at(-1);
      return last === undefined ? null : { prompt: last.prompt, images: last.images.length };
    },
    close: () => server.close(),
  };
  return {
    fake,
    adapter: ({ timeoutMs }) =>
      new FalImageProvider({
        apiKey: "contract-key",
        models: FAL_DEFAULT_MODELS,
        baseUrl: server.url,
        timeoutMs,
        pollIntervalMs: 20,
        logger: pino({ level: "silent" }),
      }),
  };
});
