import { failure, success, type Result } from "../errors.ts";
import type { ImageTaskInput, ModelDefinition } from "./model.ts";
import { nanoBananaTextToImage } from "./nano-banana.ts";

export class Catalog {
  private readonly models: ReadonlyMap<string, ModelDefinition>;
  private readonly prices: ReadonlyMap<string, number>;

  /** `prices` overrides the models' default prices, by model id. */
  constructor(
    options: { models?: readonly ModelDefinition[]; prices?: Readonly<Record<string, number>> } = {},
  ) {
    const models = options.models ?? [nanoBananaTextToImage];
    this.models = new Map(models.map((model) => [model.id, model]));
    this.prices = new Map(models.map((model) => [model.id, options.prices?.[model.id] ?? model.defaultPrice]));
  }

  /** Credits one task of the model costs. */
  price(modelId: string): number {
    return this.prices.get(modelId) ?? 0;
  }

  list(): ModelDefinition[] {
    return [...this.models.values()];
  }

  find(modelId: string): ModelDefinition | null {
    return this.models.get(modelId) ?? null;
  }

  /** Checks `input` against the model's schema; the failure message names the offending field. */
  validate(modelId: string, input: unknown): Result<{ model: ModelDefinition; input: ImageTaskInput }> {
    const model = this.models.get(modelId);
    if (model === undefined) {
      return failure("VALIDATION_FAILED", `model must be one of ${[...this.models.keys()].join(", ")}`);
    }
    const parsed = model.inputSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return failure("VALIDATION_FAILED", issue?.message ?? "input is not valid");
    }
    return success({ model, input: model.normalize(input) });
  }
}
