import { z } from "zod";
import type { Catalog } from "../domain/catalog/catalog.ts";
import type { ModelDefinition } from "../domain/catalog/model.ts";

/** One model as GET /api/v1/models lists it. */
export interface ModelView {
  id: string;
  description: string;
  /** Credits one task costs at the model's default resolution, as configured. */
  price: number;
  /** Credits one task costs per resolution, as configured (PRICES). */
  prices: Record<string, number>;
  /** JSON Schema of `input` as a client sends it (before defaults). */
  inputSchema: unknown;
  defaults: Readonly<Record<string, unknown>>;
  limits: ModelDefinition["describe"]["limits"];
  /** `WIDTHxHEIGHT` per resolution and aspect ratio. */
  resultSizes: Record<string, Record<string, string>>;
}

export function modelView(model: ModelDefinition, catalog: Catalog): ModelView {
  return {
    id: model.id,
    description: model.description,
    price: catalog.price(model.id),
    prices: { ...catalog.prices(model.id) } as Record<string, number>,
    inputSchema: z.toJSONSchema(model.inputSchema, { io: "input", unrepresentable: "any" }),
    defaults: model.describe.defaults,
    limits: model.describe.limits,
    resultSizes: Object.fromEntries(
      Object.entries(model.describe.resultSizes).map(([resolution, sizes]) => [
        resolution,
        Object.fromEntries(Object.entries(sizes).map(([ratio, size]) => [ratio, `${size.width}x${size.height}`])),
      ]),
    ),
  };
}

export function catalogView(catalog: Catalog): ModelView[] {
  return catalog.list().map((model) => modelView(model, catalog));
}
