import type { Task } from "../domain/tasks/task.ts";
import type { ImageProvider } from "../providers/image-provider.ts";

/**
 * Chooses the provider that serves a task: the model's configured route for live tasks, always
 * the sandbox for test-mode tasks.
 */
export class ProviderRouter {
  constructor(
    private readonly routes: ReadonlyMap<string, ImageProvider>,
    private readonly sandbox: ImageProvider,
  ) {}

  providerFor(task: Pick<Task, "model" | "mode">): ImageProvider | null {
    if (task.mode === "test") return this.sandbox;
    return this.routes.get(task.model) ?? null;
  }

  providers(): ImageProvider[] {
    return [...new Set([...this.routes.values(), this.sandbox])];
  }
}
