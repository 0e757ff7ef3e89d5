import { Agent, request } from "undici";

const WORDS = [
  "banana", "giant", "floating", "space", "watercolor", "portrait", "of", "a", "cat", "wearing", "tiny", "hat",
  "neon", "city", "at", "night", "rain", "reflections", "mountain", "lake", "sunrise", "fog", "oil", "painting",
  "isometric", "robot", "garden", "ancient", "library", "glowing", "books", "underwater", "castle", "coral",
  "minimalist", "poster", "retro", "car", "desert", "road", "cinematic", "lighting", "macro", "photo", "dew",
  "spider", "web", "forest", "spirit", "paper", "cutout", "lantern", "festival", "snowy", "village", "cozy",
  "cabin", "steampunk", "airship", "clouds", "pixel", "art", "dragon", "sleeping", "on", "gold", "coins",
];

const RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto"];

function pick<T>(values: readonly T[]): T {
  const value = values[Math.floor(Math.random() * values.length)];
  if (value === undefined) throw new Error("pick from an empty list");
  return value;
}

export function randomPrompt(): string {
  const length = 6 + Math.floor(Math.random() * 25);
  return Array.from({ length }, () => pick(WORDS)).join(" ");
}

/** A valid createTask body with a random prompt; a random ratio and format unless given. */
export function createTaskBody(input: { imageSize?: string; outputFormat?: "png" | "jpeg" } = {}): string {
  return JSON.stringify({
    model: "nano-banana-text-to-image",
    input: {
      prompt: randomPrompt(),
      image_size: input.imageSize ?? pick(RATIOS),
      output_format: input.outputFormat ?? pick(["png", "jpeg"] as const),
    },
  });
}

export function authorizationHeaders(apiKey: string): Record<string, string> {
  return { authorization: `Bearer ${apiKey}`, "content-type": "application/json" };
}

export type CreateOutcome = { ok: true; taskId: string } | { ok: false; status: number; message: string };

/** A keep-alive HTTP client for one server, as a client library would hold. */
export class ApiClient {
  readonly #agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });

  constructor(
    private readonly origin: string,
    private readonly apiKey: string,
  ) {}

  async createTask(body: string): Promise<CreateOutcome> {
    const response = await request(`${this.origin}/api/v1/jobs/createTask`, {
      method: "POST",
      headers: authorizationHeaders(this.apiKey),
      body,
      dispatcher: this.#agent,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) return { ok: false, status: response.statusCode, message: text.slice(0, 200) };
    const parsed = JSON.parse(text) as { data?: { taskId?: unknown } };
    const taskId = parsed.data?.taskId;
    if (typeof taskId !== "string") return { ok: false, status: response.statusCode, message: "no taskId in the answer" };
    return { ok: true, taskId };
  }

  /** Creates `count` tasks, `concurrency` at a time; answers the ids of those accepted. */
  async createMany(count: number, concurrency: number, body: () => string): Promise<string[]> {
    const taskIds: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        next += 1;
        const outcome = await this.createTask(body());
        if (outcome.ok) taskIds.push(outcome.taskId);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, () => worker()));
    return taskIds;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
