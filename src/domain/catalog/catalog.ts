import { failure, success, type Result } from "../errors.ts";
import type { Resolution } from "./aspect-ratios.ts";
import type { ImageTaskInput, ModelDefinition } from "./model.ts";
import { MODELS } from "./models/index.ts";

/** A configured price: one figure for every resolution, or one per resolution. */
export type PriceSetting = number | Readonly<Partial<Record<Resolution, number>>>;

export class Catalog {
  private readonly models: ReadonlyMap<string, ModelDefinition>;
  private readonly priceTable: ReadonlyMap<string, Readonly<Partial<Record<Resolution, number>>>>;

  /** `prices` overrides the models' default prices, by model id (see PRICES). */
  constructor(
    options: { models?: readonly ModelDefinition[]; prices?: Readonly<Record<string, PriceSetting>> } = {},
  ) {
    const models = options.models ?? MODELS;
    this.models = new Map(models.map((model) => [model.id, model]));
    this.priceTable = new Map(
      models.map((model) => {
        const setting = options.prices?.[model.id];
        const prices: Partial<Record<Resolution, number>> = {};
        for (const resolution of model.resolutions) {
          const configured = typeof setting === "number" ? setting : setting?.[resolution];
          prices[resolution] = configured ?? model.defaultPrices[resolution] ?? model.defaultPrices[model.resolutions[0]] ?? 0;
        }
        return [model.id, prices];
      }),
    );
  }

  /** Credits one task of the model costs at `resolution` (the model's default when absent). */
  price(modelId: string, resolution?: Resolution): number {
    const prices = this.priceTable.get(modelId);
    const model = this.models.get(modelId);
    if (prices === undefined || model === undefined) return 0;
    return prices[resolution ?? model.resolutions[0]] ?? 0;
  }

  /** The model's price per resolution it offers. */
  prices(modelId: string): Readonly<Partial<Record<Resolution, number>>> {
    return this.priceTable.get(modelId) ?? {};
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
