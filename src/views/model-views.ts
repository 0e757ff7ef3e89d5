import { z } from "zod";
import type { Catalog } from "../domain/catalog/catalog.ts";
import type { ModelDefinition } from "../domain/catalog/model.ts";

/** One model as GET /api/v1/models lists it. */
export interface ModelView {
  id: string;
  description: string;
  /** Credits one task costs, as configured (PRICE_<MODEL>). */
  price: number;
  /** JSON Schema of `input` as a client sends it (before defaults). */
  inputSchema: unknown;
  defaults: Readonly<Record<string, unknown>>;
  limits: ModelDefinition["describe"]["limits"];
  /** `WIDTHxHEIGHT` per aspect ratio. */
  resultSizes: Record<string, string>;
}

export function modelView(model: ModelDefinition, price: number): ModelView {
  return {
    id: model.id,
    description: model.description,
    price,
    inputSchema: z.toJSONSchema(model.inputSchema, { io: "input", unrepresentable: "any" }),
    defaults: model.describe.defaults,
    limits: model.describe.limits,
    resultSizes: Object.fromEntries(
      Object.entries(model.describe.resultSizes).map(([ratio, size]) => [ratio, `${size.width}x${size.height}`]),
    ),
  };
}

export function catalogView(catalog: Catalog): ModelView[] {
  return catalog.list().map((model) => modelView(model, catalog.price(model.id)));
}
