import { upstreamCapabilities } from "../gemini/upstream-models.ts";
import type { ImageRequest } from "../image-provider.ts";
import { imageReference } from "../upstream-http.ts";

/** The chat completions body that asks `model` for an image. */
export interface OpenRouterRequestBody {
  model: string;
  messages: [{ role: "user"; content: ContentPart[] }];
  modalities: ["image", "text"];
  image_config?: { aspect_ratio?: string; image_size?: string };
}

type ContentPart = { type: "text"; text: string } | { type: "image_url"; image_url: { url: string } };

/**
 * The prompt first, then each reference image in the client's order: by its URL when imagegate
 * serves it publicly (OpenRouter fetches it), else inline as a data: URL. What the model takes
 * is known by its Google family (the id without "google/"), as for the Gemini API: a ratio or
 * size it lacks is left out and the model picks.
 */
export function openRouterRequestBody(request: ImageRequest, model: string): OpenRouterRequestBody {
  const capabilities = upstreamCapabilities(model.startsWith("google/") ? model.slice("google/".length) : model);
  const imageSize = request.resolution ?? "1K";
  const imageConfig = {
    ...(request.aspectRatio !== "auto" && capabilities.ratios.has(request.aspectRatio) ? { aspect_ratio: request.aspectRatio } : {}),
    ...(capabilities.imageSizes.has(imageSize) ? { image_size: imageSize } : {}),
  };
  const images = (request.images ?? []).map(
    (image): ContentPart => ({
      type: "image_url",
      image_url: { url: imageReference(image) },
    }),
  );
  return {
    model,
    messages: [{ role: "user", content: [{ type: "text", text: request.prompt }, ...images] }],
    // Gemini's image models answer with text and images; asking for the image alone is refused.
    modalities: ["image", "text"],
    ...(Object.keys(imageConfig).length > 0 ? { image_config: imageConfig } : {}),
  };
}
