import type { GenerateContentResponse } from "@google/genai";
import { describe, expect, it } from "vitest";
import { readGeminiResponse } from "../../src/providers/gemini/gemini-response.ts";
import { parseDuration, parseUpstreamErrorBody } from "../../src/providers/gemini/gemini-upstream-error.ts";

const PNG = Buffer.from("final image").toString("base64");
const DRAFT = Buffer.from("draft").toString("base64");

describe("parseDuration", () => {
  it.each([
    ["41s", 41_000],
    ["1.5s", 1_500],
    ["0.250s", 250],
    [{ seconds: "2", nanos: 500_000_000 }, 2_500],
    ["soon", null],
    [41, null],
  ])("reads %j as %j ms", (value, expected) => {
    expect(parseDuration(value)).toBe(expected);
  });
});

describe("parseUpstreamErrorBody", () => {
  it("reads status, reasons and RetryInfo from Google's error body", () => {
    const body = JSON.stringify({
      error: {
        code: 429,
        message: "quota",
        status: "RESOURCE_EXHAUSTED",
        details: [
          { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "RATE_LIMIT_EXCEEDED" },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "41s" },
        ],
      },
    });

    expect(parseUpstreamErrorBody(body)).toEqual({
      code: 429,
      status: "RESOURCE_EXHAUSTED",
      message: "quota",
      reasons: ["RATE_LIMIT_EXCEEDED"],
      retryDelayMs: 41_000,
    });
  });

  it("yields empty fields for a body that is not Google's JSON", () => {
    expect(parseUpstreamErrorBody("<html>Bad Gateway</html>")).toEqual({
      code: null,
      status: null,
      message: null,
      reasons: [],
      retryDelayMs: null,
    });
  });
});

describe("readGeminiResponse", () => {
  it("takes the last non-thought image, whatever text surrounds it", () => {
    const response = {
      candidates: [
        {
          content: {
            role: "model",
            parts: [
              { inlineData: { mimeType: "image/png", data: DRAFT }, thought: true },
              { text: "Here you go." },
              { inlineData: { mimeType: "image/png", data: PNG } },
              { text: "Enjoy." },
            ],
          },
          finishReason: "STOP",
        },
      ],
    } as GenerateContentResponse;

    expect(readGeminiResponse(response)).toEqual({
      kind: "image",
      bytes: Buffer.from("final image"),
      declaredMimeType: "image/png",
    });
  });

  it("reports a blocked prompt as refused", () => {
    const response = { promptFeedback: { blockReason: "OTHER" } } as GenerateContentResponse;

    expect(readGeminiResponse(response)).toEqual({ kind: "refused", reason: "promptFeedback.blockReason OTHER" });
  });

  it.each(["SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII"])(
    "reports finishReason %s as refused",
    (finishReason) => {
      const response = { candidates: [{ finishReason }] } as GenerateContentResponse;

      expect(readGeminiResponse(response).kind).toBe("refused");
    },
  );

  it.each([
    ["NO_IMAGE without parts", { candidates: [{ finishReason: "NO_IMAGE" }] }],
    ["text only", { candidates: [{ content: { parts: [{ text: "I can't" }] }, finishReason: "STOP" }] }],
    ["thought images only", { candidates: [{ content: { parts: [{ inlineData: { data: DRAFT }, thought: true }] } }] }],
    ["no candidates", {}],
  ])("reports %s as no image", (_name, response) => {
    expect(readGeminiResponse(response as GenerateContentResponse).kind).toBe("no-image");
  });
});
