import type { Logger } from "pino";
import { systemClock, type Clock } from "../../domain/clock.ts";
import type { ImageOutput, ImageProvider, ImageRequest, ProviderHealth } from "../image-provider.ts";
import type { UpstreamCallObserver } from "../metered-image-provider.ts";
import type { Random } from "../sleep.ts";
import type { UpstreamOptions } from "../upstreams/kinds.ts";
import type { UpstreamsConfig } from "../upstreams/upstreams-file.ts";
import { CircuitBreaker, type CircuitSnapshot } from "./circuit-breaker.ts";
import { RoutedImageProvider, type RouteMember, type RoutePolicy } from "./routed-image-provider.ts";
import { teeObservers, UpstreamStats, type UpstreamFigures } from "./upstream-stats.ts";

/** One upstream as the admin API, the CLI, the metrics and /readyz show it. */
export interface UpstreamReport extends UpstreamFigures {
  name: string;
  kind: string;
  /** Public model id to the upstream's model id. */
  models: Record<string, string>;
  /** Null where no breaker watches the upstream (the GEMINI_* configuration). */
  circuit: CircuitSnapshot | null;
  /** Whether the upstream reports itself able to serve (a rejected key shows here), and why not. */
  health: ProviderHealth;
  maxConcurrency: number;
  weight: number | null;
  /** USD per image, as configured; informational. */
  price: number | null;
}

export interface RouteReport {
  model: string;
  policy: RoutePolicy;
  upstreams: string[];
}

/** The upstreams this process calls, and the figures it keeps of them. */
export interface UpstreamDirectory {
  /** Where the upstreams come from: UPSTREAMS_FILE, the GEMINI_* variables, or none (the sandbox). */
  readonly source: "UPSTREAMS_FILE" | "GEMINI_*" | "sandbox";
  upstreams(): UpstreamReport[];
  routes(): RouteReport[];
}

/** An upstream of this process: its provider inside the layers, its figures, its circuit if any. */
export interface Upstream {
  readonly name: string;
  readonly kind: string;
  readonly models: Readonly<Record<string, string>>;
  readonly provider: ImageProvider;
  readonly stats: UpstreamStats;
  readonly breaker: CircuitBreaker | null;
  readonly maxConcurrency: number;
  readonly weight: number | null;
  readonly price: number | null;
}

export function reportOf(upstream: Upstream): UpstreamReport {
  return {
    name: upstream.name,
    kind: upstream.kind,
    models: { ...upstream.models },
    ...upstream.stats.figures(),
    circuit: upstream.breaker?.snapshot() ?? null,
    health: upstream.provider.health?.() ?? { ok: true },
    maxConcurrency: upstream.maxConcurrency,
    weight: upstream.weight,
    price: upstream.price,
  };
}

export interface UpstreamRouting extends UpstreamDirectory {
  /** Each public model's routed provider. */
  readonly routesByModel: ReadonlyMap<string, RoutedImageProvider>;
  readonly members: readonly Upstream[];
  /** Asks every upstream, once each, whether it serves its models. */
  checkUpstreams(): Promise<void>;
  /** The public models whose every upstream has an open circuit. */
  modelsWithoutUpstream(): string[];
}

export interface UpstreamRoutingDependencies {
  logger: Logger;
  /** The metrics, told of every attempt of every upstream. */
  observer?: UpstreamCallObserver;
  clock?: Clock;
  random?: Random;
  /** Builds one upstream inside its layers; createUpstream unless a test replaces it. */
  createUpstream: (options: UpstreamOptions) => Promise<ImageProvider>;
}

/** Every upstream of UPSTREAMS_FILE, built once, and one routed provider per public model over them. */
export async function buildUpstreamRouting(config: UpstreamsConfig, dependencies: UpstreamRoutingDependencies): Promise<UpstreamRouting> {
  const clock = dependencies.clock ?? systemClock;
  const members = new Map<string, Upstream & RouteMember>();
  for (const definition of config.upstreams) {
    const { weight, price, breaker: settings, ...options } = definition;
    const logger = dependencies.logger.child({ upstream: definition.name });
    const breaker = new CircuitBreaker(settings, {
      clock,
      onChange: (state) => logger.warn({ circuit: state }, state === "open" ? "upstream circuit opened: routes skip it until a probe succeeds" : "upstream circuit closed"),
    });
    const stats = new UpstreamStats();
    const observer = teeObservers(dependencies.observer, stats, { upstreamCallEnded: (call) => breaker.recordAttempt(call.outcome) });
    const provider = await dependencies.createUpstream({ ...options, logger: dependencies.logger, observer, clock, random: dependencies.random } as UpstreamOptions);
    members.set(definition.name, {
      name: definition.name,
      kind: definition.kind,
      models: definition.models,
      provider,
      stats,
      breaker,
      maxConcurrency: definition.maxConcurrency,
      weight,
      price,
    });
  }
  const routesByModel = new Map<string, RoutedImageProvider>();
  for (const [model, route] of Object.entries(config.routes)) {
    const routeMembers = route.upstreams.map((name) => {
      const member = members.get(name);
      if (member === undefined) throw new Error(`the route of ${model} names an unknown upstream ${name}`);
      return member;
    });
    routesByModel.set(
      model,
      new RoutedImageProvider(routeMembers, { model, policy: route.policy, clock, random: dependencies.random, logger: dependencies.logger.child({ model }) }),
    );
  }
  const list = [...members.values()];
  return {
    source: "UPSTREAMS_FILE",
    routesByModel,
    members: list,
    upstreams: () => list.map(reportOf),
    routes: () => [...routesByModel].map(([model, routed]) => ({ model, policy: routed.policy, upstreams: routed.members.map((member) => member.name) })),
    async checkUpstreams() {
      await Promise.all(list.map((member) => member.provider.checkUpstream?.()));
    },
    modelsWithoutUpstream: () => [...routesByModel].filter(([, routed]) => !routed.health().ok).map(([model]) => model),
  };
}

/**
 * Counts the tasks on an upstream of the GEMINI_* configuration, which has no routes to count
 * them: its figures then show tasks and what is in flight as UPSTREAMS_FILE's do.
 */
export class TrackedImageProvider implements ImageProvider {
  readonly name: string;

  constructor(
    private readonly inner: ImageProvider,
    private readonly stats: UpstreamStats,
  ) {
    this.name = inner.name;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    this.stats.taskStarted();
    let served = false;
    try {
      const output = await this.inner.generate(request);
      served = true;
      return output;
    } finally {
      this.stats.taskEnded(served);
    }
  }

  health(): ProviderHealth {
    return this.inner.health?.() ?? { ok: true };
  }

  async checkUpstream(): Promise<void> {
    await this.inner.checkUpstream?.();
  }
}
