import pino from "pino";
import { ReplicateImageProvider } from "../../src/providers/replicate/replicate-image-provider.ts";
import { REPLICATE_DEFAULT_MODELS } from "../../src/providers/replicate/replicate-models.ts";
import { E005, FakeReplicateServer, type FakeReplicateAnswer } from "../fakes/fake-replicate-server.ts";
import { imageProviderContract, type ScriptedAnswer, type UpstreamFake } from "./image-provider.contract.ts";

function replicateAnswer(answer: ScriptedAnswer): FakeReplicateAnswer {
  switch (answer.kind) {
    case "image":
      return { kind: "image" };
    case "refusal":
      return { kind: "failed", error: E005 };
    case "rate-limit":
      return { kind: "rate-limited", retryAfterSeconds: answer.retryAfterSeconds };
    case "server-error":
      return { kind: "status", status: answer.status ?? 500 };
    case "hang":
      return { kind: "hang" };
    case "garbage":
      return { kind: "malformed" };
    case "bad-credentials":
      return { kind: "bad-token" };
  }
}

imageProviderContract("Replicate (predictions API)", async () => {
  const server = await FakeReplicateServer.start({ allowedTokens: ["contract-token"] });
  const fake: UpstreamFake = {
    url: server.url,
    script: (...answers) => server.enqueue(...answers.map(replicateAnswer)),
    get generationRequests() {
      return server.creates.length;
    },
    get lastGeneration() {
      const last = server.creates.at(-1);
      return last === undefined ? null : { prompt: last.prompt, images: last.images.length };
    },
    close: () => server.close(),
  };
  return {
    fake,
    adapter: ({ timeoutMs }) =>
      new ReplicateImageProvider({
        apiToken: "contract-token",
        models: REPLICATE_DEFAULT_MODELS,
        baseUrl: server.url,
        timeoutMs,
        pollIntervalMs: 20,
        logger: pino({ level: "silent" }),
      }),
  };
});
