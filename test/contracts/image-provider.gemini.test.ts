import pino from "pino";
import { systemClock } from "../../src/domain/clock.ts";
import { GeminiImageProvider } from "../../src/providers/gemini/gemini-image-provider.ts";
import { KeyPool } from "../../src/providers/gemini/key-pool.ts";
import { MODELS } from "../../src/domain/catalog/models/index.ts";
import { FakeGeminiServer } from "../fakes/fake-gemini-server.ts";
import { geminiAnswer } from "./gemini-scripted-answers.ts";
import { imageProviderContract, type UpstreamFake } from "./image-provider.contract.ts";


imageProviderContract("Gemini (generateContent)", async () => {
  const server = await FakeGeminiServer.start();
  const fake: UpstreamFake = {
    url: server.url,
    script: (...answers) => server.enqueue(...answers.map(geminiAnswer)),
    get generationRequests() {
      return server.requests.filter((request) => request.method === "POST").length;
    },
    get lastGeneration() {
      const last = server.requests.filter((request) => request.method === "POST").at(-1);
      return last === undefined ? null : { prompt: last.prompt, images: last.inputImages.length };
    },
    close: () => server.close(),
  };
  const models = Object.fromEntries(MODELS.map((model) => [model.id, { upstream: model.defaultGeminiModel, setting: "GEMINI_MODEL_MAP" }]));
  return {
    fake,
    adapter: ({ timeoutMs }) =>
      new GeminiImageProvider({ keyPool: new KeyPool(["contract-key"], systemClock), models, baseUrl: server.url, timeoutMs, logger: pino({ level: "silent" }) }),
  };
});
