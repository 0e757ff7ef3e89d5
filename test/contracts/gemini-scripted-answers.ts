import type { FakeGeminiAnswer } from "../fakes/fake-gemini-server.ts";
import type { ScriptedAnswer } from "./image-provider.contract.ts";

/** The conformance suite's answers in Google's generateContent format, which the Gemini API and Vertex AI share. */
export function geminiAnswer(answer: ScriptedAnswer): FakeGeminiAnswer {
  switch (answer.kind) {
    case "image":
      return { kind: "image" };
    case "refusal":
      return { kind: "finish", finishReason: "IMAGE_SAFETY" };
    case "rate-limit":
      return { kind: "rate-limited", retryDelay: answer.retryAfterSeconds === undefined ? null : `${answer.retryAfterSeconds}s` };
    case "server-error":
      return { kind: "status", status: answer.status ?? 500 };
    case "hang":
      return { kind: "hang" };
    case "garbage":
      return { kind: "malformed-json" };
    case "bad-credentials":
      return { kind: "invalid-key" };
  }
}
