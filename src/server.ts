import type { FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import { buildApp } from "./api/app.ts";
import type { ReadinessCheck } from "./api/context.ts";
import type { Config } from "./config.ts";
import { openBlobs } from "./composition/blobs.ts";
import { openDispatch } from "./composition/dispatch.ts";
import { openRateLimits } from "./composition/rate-limits.ts";
import { openStorage, type Storage } from "./composition/storage.ts";
import { AccountService } from "./domain/accounts/account-service.ts";
import { KeyUsage } from "./domain/accounts/key-usage.ts";
import { CallbackService } from "./domain/callbacks/callback-service.ts";
import { Catalog } from "./domain/catalog/catalog.ts";
import { systemClock, type Clock } from "./domain/clock.ts";
import { newId } from "./domain/ids.ts";
import { taskEventOf } from "./domain/tasks/events.ts";
import { TaskService } from "./domain/tasks/task-service.ts";
import { isTerminal } from "./domain/tasks/task.ts";
import { UPLOADS_FOLDER, UploadService } from "./domain/uploads/upload-service.ts";
import { createGuardedFetch } from "./net/guarded-fetch.ts";
import { createImageDownload } from "./net/image-download.ts";
import { isPubliclyReachable } from "./net/public-base-url.ts";
import type { ImageProvider } from "./providers/image-provider.ts";
import { MeteredImageProvider, type UpstreamCallObserver } from "./providers/metered-image-provider.ts";
import { TrackedImageProvider, type UpstreamDirectory, type UpstreamRouting } from "./providers/routing/upstream-routing.ts";
import { teeObservers, UpstreamStats } from "./providers/routing/upstream-stats.ts";
import { SandboxImageProvider } from "./providers/sandbox/sandbox-image-provider.ts";
import { RuntimeMetrics } from "./observability/runtime-metrics.ts";
import { loadOrCreateSigningSecret, UrlSigner } from "./storage/url-signer.ts";
import { CallbackSender } from "./worker/callback-sender.ts";
import { InputImageLoader, type InputDownloadOptions } from "./worker/input-images.ts";
import { ProviderRouter } from "./worker/provider-router.ts";
import { TaskRunner } from "./worker/task-runner.ts";

const DAY_MS = 86_400_000;
const DEADLINE_SWEEP_MS = 1_000;
const RETENTION_SWEEP_MS = 3_600_000;
/** How often the upstreams are asked again whether they serve the configured models. */
const UPSTREAM_CHECK_MS = 600_000;
/** How often the keys' uses noted since are written (each key's at most once a minute). */
const KEY_USE_FLUSH_MS = 10_000;
/**
 * A shared queue's reconciler hands over active tasks left unchanged this many intervals: long
 * enough that a task an API process is handing over right now is rarely taken twice (it would be
 * harmless), short enough that a task Redis forgot waits little.
 */
const RECONCILE_IDLE_INTERVALS = 2;

/** Parts a caller (tests, benchmarks) may replace; everything else comes from Config. */
export interface ServerOverrides {
  clock?: Clock;
  logger?: Logger;
  /** Replaces the configured provider route of every model. */
  provider?: ImageProvider;
}

export interface Server {
  app: FastifyInstance;
  config: Config;
  accounts: AccountService;
  tasks: TaskService;
  logger: Logger;
  /** The database's repositories, for tests and tools that need to look beneath the services. */
  store: Storage;
  /**
   * Listens and, unless ROLE=api, starts the workers, the callback sender and the sweeps, resuming
   * tasks left by a previous run (at start with the embedded queue, by the reconciler with a shared one).
   */
  start(): Promise<string>;
  /** Stops accepting, lets running tasks finish within the grace period, leaves the rest for recovery. */
  stop(): Promise<void>;
  /**
   * Runs the periodic jobs once, now: overdue tasks fail, files past retention are deleted, the
   * keys' last uses are written.
   */
  sweep(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    redact: { paths: ["req.headers.authorization", "headers.authorization", "apiKey", "key"], censor: "[redacted]" },
  });
}

/** The providers of live tasks: one for every model, or one routed provider per model (UPSTREAMS_FILE). */
interface LiveProviders {
  /** Serves every model, unless `routing` routes each one. */
  provider: ImageProvider;
  routing: UpstreamRouting | null;
  directory: UpstreamDirectory;
}

function noUpstreams(source: UpstreamDirectory["source"]): UpstreamDirectory {
  return { source, upstreams: () => [], routes: () => [] };
}

async function buildProviders(
  config: Config,
  logger: Logger,
  sandbox: ImageProvider,
  observer: UpstreamCallObserver,
  clock: Clock,
): Promise<LiveProviders> {
  if (config.imageProvider === "upstreams" && config.upstreams !== null) {
    // Loaded only when configured, as each kind's adapter and SDK are.
    const { buildUpstreamRouting } = await import("./providers/routing/upstream-routing.ts");
    const { createUpstream } = await import("./providers/upstreams/kinds.ts");
    const routing = await buildUpstreamRouting(config.upstreams, { logger, observer, clock, createUpstream });
    return { provider: sandbox, routing, directory: routing };
  }
  if (config.imageProvider === "gemini" && config.gemini !== null) {
    // Loaded only when configured: the SDK is large and the sandbox needs none of it.
    const { createGeminiProvider } = await import("./providers/gemini/create-gemini-provider.ts");
    const { fallback, ...gemini } = config.gemini;
    const { reportOf } = await import("./providers/routing/upstream-routing.ts");
    // The same providers as ever; their figures are kept too, for the admin API and the CLI.
    const upstream = (name: string, settings: typeof gemini) => {
      const stats = new UpstreamStats();
      const provider = new TrackedImageProvider(
        createGeminiProvider({ ...settings, ...(name === "gemini" ? {} : { name }), logger, observer: teeObservers(observer, stats) }),
        stats,
      );
      const models = Object.fromEntries(Object.entries(settings.models).map(([publicId, route]) => [publicId, route.upstream]));
      return { name, kind: "gemini", models, provider, stats, breaker: null, maxConcurrency: settings.maxConcurrency, weight: null, price: null };
    };
    const primary = upstream("gemini", gemini);
    const secondary = fallback === null ? null : upstream("gemini-fallback", { ...gemini, ...fallback });
    const all = secondary === null ? [primary] : [primary, secondary];
    const directory: UpstreamDirectory = { source: "GEMINI_*", upstreams: () => all.map(reportOf), routes: () => [] };
    if (secondary === null) return { provider: primary.provider, routing: null, directory };
    const { FallbackImageProvider } = await import("./providers/fallback-image-provider.ts");
    return { provider: new FallbackImageProvider([primary.provider, secondary.provider], { logger }), routing: null, directory };
  }
  return { provider: sandbox, routing: null, directory: noUpstreams("sandbox") };
}

function providerChecks(providers: readonly ImageProvider[]): ReadinessCheck[] {
  return providers.map((candidate) => ({
    name: `provider:${candidate.name}`,
    check: async () => candidate.health?.() ?? { ok: true },
  }));
}

/**
 * With UPSTREAMS_FILE: ready while every public model has an upstream whose circuit is not open.
 * Each upstream is listed with its circuit, for information: one open circuit of several is no
 * reason to take the server out of a load balancer.
 */
function routingChecks(routing: UpstreamRouting, sandbox: ImageProvider): ReadinessCheck[] {
  return [
    {
      name: "routes",
      check: async () => {
        const stranded = routing.modelsWithoutUpstream();
        return stranded.length === 0 ? { ok: true } : { ok: false, reason: `every upstream has an open circuit or is unhealthy for ${stranded.join(", ")}` };
      },
    },
    ...routing.members.map((member) => ({
      name: `upstream:${member.name}`,
      informational: true,
      check: async () => {
        const health = member.provider.health?.() ?? { ok: true };
        const circuit = member.breaker?.snapshot();
        const state = circuit?.state ?? "closed";
        if (state === "open") {
          return { ok: false, circuit: state, reason: `circuit open; next probe at ${new Date(circuit?.nextProbeAt ?? 0).toISOString()}` };
        }
        return { ...health, circuit: state };
      },
    })),
    ...providerChecks([sandbox]),
  ];
}

export async function createServer(config: Config, overrides: ServerOverrides = {}): Promise<Server> {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? createLogger(config);
  const storage = await openStorage(config, {
    server: {
      onCheckpointFailure: (error) => logger.warn({ err: error }, "checkpoint of the database's write-ahead log failed; retrying after the next commit"),
      onCheckpointRecovery: () => logger.info("checkpoints of the database's write-ahead log work again"),
      lockEvents: {
        onLost: (error) => logger.warn({ err: error }, "lost the connection that marks this server as the database's one server; taking it again"),
        onRegained: () => logger.info("this server is again marked as the database's one server"),
        onTaken: () =>
          logger.error(
            { operatorError: true },
            "OPERATOR ACTION NEEDED: another imagegate server runs on this DATABASE_URL; stop one of them (each resumes every active task)",
          ),
      },
    },
  });
  const runsTasks = config.role !== "api";
  const catalog = new Catalog({ prices: config.prices });
  const dispatch = await openDispatch(config, logger);
  const accounts = new AccountService(storage.accounts, clock);
  const keyUsage = new KeyUsage(storage.accounts, clock);
  const tasks = new TaskService(storage.tasks, catalog, dispatch.queue, clock, {
    taskTimeoutMs: config.taskTimeoutMs,
    activeTaskLimit: config.activeTaskLimit,
    onHandOverFailure: (taskId, error) =>
      logger.warn({ err: error, taskId }, "the queue did not take a new task; it waits, stored, until the reconciler hands it over"),
  });
  // Every change this process makes reaches every process's listeners: the worker running a task
  // canceled here, the streams following it, the callback sender of a task settled here.
  tasks.onChange((task, event) => {
    if (event !== "changed") return;
    dispatch.events.publish(taskEventOf(task)).catch((error: unknown) => logger.warn({ err: error, taskId: task.id }, "could not publish a task change"));
  });
  const files = await openBlobs(config, clock);
  const rateLimits = await openRateLimits(config, logger);
  const blobs = files.store;
  const signer = new UrlSigner({
    secret: config.urlSigningSecret ?? (await loadOrCreateSigningSecret(config.dataDir)),
    publicBaseUrl: config.publicBaseUrl,
  });
  const resultUrls = files.resultUrls(signer);
  const uploads = new UploadService(storage.uploads, blobs, clock, {
    maxBytes: config.uploadMaxBytes,
    accountMaxBytes: config.uploadAccountMaxBytes,
    retentionMs: config.uploadRetentionDays * DAY_MS,
  });
  const metrics = new RuntimeMetrics(dispatch.gauges, tasks, storage.counters);
  const sandbox = new MeteredImageProvider(new SandboxImageProvider({ latencyMs: config.sandboxLatencyMs }), metrics.upstream);
  const live: LiveProviders =
    overrides.provider === undefined
      ? await buildProviders(config, logger, sandbox, metrics.upstream, clock)
      : { provider: new MeteredImageProvider(overrides.provider, metrics.upstream), routing: null, directory: noUpstreams("sandbox") };
  const routing = live.routing;
  const router = new ProviderRouter(
    new Map(catalog.list().map((model) => [model.id, routing?.routesByModel.get(model.id) ?? live.provider])),
    sandbox,
  );
  metrics.watchUpstreams(live.directory);
  // Tasks' reference images and file-url-upload fetch under the same INPUT_IMAGE_* settings.
  const inputDownload: InputDownloadOptions = {
    policy: { allowPrivate: config.inputImageAllowPrivate, allowNetworks: config.inputImageAllowNetworks },
    maxBytes: config.inputImageMaxBytes,
    timeoutMs: config.inputImageTimeoutMs,
  };
  const inputs = new InputImageLoader({ blobs, signer, clock, publicFiles: isPubliclyReachable(config.publicBaseUrl) }, inputDownload);
  const runner = new TaskRunner(
    { tasks, events: dispatch.events, catalog, router, inputs, blobs, resultUrls, clock, logger },
    { retentionMs: config.resultRetentionDays * DAY_MS },
  );

  // Names this run's callback leases, so the next start can release those a crash leaves behind.
  const runId = newId("run", clock.now());
  const callbacks = new CallbackSender(
    {
      outbox: storage.outbox,
      leaseOwner: runId,
      secretOf: (accountId) => accounts.webhookSecretOf(accountId),
      transport: createGuardedFetch({
        policy: { allowPrivate: config.callbackAllowPrivate, allowNetworks: config.callbackAllowNetworks },
        timeoutMs: config.callbackTimeoutMs,
        urlName: "callBackUrl",
      }),
      clock,
      random: Math.random,
      logger: logger.child({ component: "callbacks" }),
      observer: metrics.callbacks,
    },
    { timeoutMs: config.callbackTimeoutMs },
  );
  // The outbox row is committed with the settle, so the callback can leave now, not at the next poll.
  if (runsTasks) {
    dispatch.events.subscribe((event) => {
      if (isTerminal(event.state) && event.hasCallback) callbacks.wake();
    });
  }

  const readiness: ReadinessCheck[] = [
    {
      name: "database",
      check: async () => {
        await storage.ping();
        return { ok: true };
      },
    },
    {
      name: "files",
      check: async () => {
        await files.ping();
        return { ok: true };
      },
    },
    ...(rateLimits.ping === null
      ? []
      : [
          {
            name: "redis",
            check: async () => {
              await rateLimits.ping?.();
              return { ok: true };
            },
          },
        ]),
    // An API process calls no upstream: whether one answers is the workers' to say.
    ...(!runsTasks ? [] : routing === null ? providerChecks(router.providers()) : routingChecks(routing, sandbox)),
  ];
  const app = await buildApp({
    accounts,
    keyUsage,
    tasks,
    taskEvents: dispatch.events,
    // A redelivery asked for here leaves at once; one from the CLI waits for the sender's next poll.
    callbacks: new CallbackService(storage.outbox, accounts, clock, { onRedeliver: () => callbacks.wake() }),
    catalog,
    blobs,
    signer,
    resultUrls,
    clock,
    logger,
    readiness,
    publicBaseUrl: config.publicBaseUrl,
    rateLimiter: rateLimits.limiter,
    rateLimits: { createTask: config.rateLimitCreateTask, other: config.rateLimitOther },
    reports: storage.reports,
    adminApiKey: config.adminApiKey,
    metrics,
    corsOrigins: config.corsOrigins,
    metricsToken: config.metricsToken,
    uploads,
    downloadImage: createImageDownload({ ...inputDownload, urlName: "fileUrl" }),
    upstreams: live.directory,
    processRole: config.role,
  }, { api: config.role !== "worker" });

  const timers: NodeJS.Timeout[] = [];
  let closed = false;
  const sweepRetention = async (): Promise<void> => {
    // Uploads are kept UPLOAD_RETENTION_DAYS, each until the expiry its row records.
    const removed = await blobs.deleteOlderThan(clock.now() - config.resultRetentionDays * DAY_MS, [UPLOADS_FOLDER]);
    if (removed > 0) logger.info({ removed }, "deleted result files past their retention period");
    const expiredUploads = await uploads.deleteExpired();
    if (expiredUploads > 0) logger.info({ removed: expiredUploads }, "deleted uploads past their retention period");
    await tasks.deleteExpiredIdempotencyKeys();
  };
  const repeat = (everyMs: number, job: () => Promise<unknown>, what: string): void => {
    const timer = setInterval(() => {
      job().catch((error: unknown) => logger.error({ err: error }, `${what} failed`));
    }, everyMs);
    timer.unref();
    timers.push(timer);
  };

  return {
    app,
    config,
    accounts,
    tasks,
    logger,
    store: storage,
    async start() {
      const address = await app.listen({ port: config.port, host: config.host });
      metrics.start();
      if (config.role !== "worker") repeat(KEY_USE_FLUSH_MS, () => keyUsage.flush(), "recording when keys were last used");
      if (!runsTasks) return address;
      const consumer = dispatch.consumer;
      if (consumer === null) throw new Error("a process that runs tasks has no queue consumer");
      if (dispatch.shared) {
        // Many processes share the queue: what one left behind, the reconcilers find, in every
        // worker at once, harmlessly, since the queue holds a task once.
        consumer.start(runner.run, { concurrency: config.workerConcurrency });
        const reconcile = async (): Promise<void> => {
          const handed = await tasks.requeueIdle(clock.now() - RECONCILE_IDLE_INTERVALS * config.queueReconcileMs);
          if (handed > 0) logger.debug({ handed }, "handed idle active tasks to the queue again");
        };
        await reconcile().catch((error: unknown) => logger.error({ err: error }, "queue reconciliation failed"));
        repeat(config.queueReconcileMs, reconcile, "queue reconciliation");
      } else {
        const recovered = await tasks.recover();
        if (recovered.resumed + recovered.timedOut > 0) logger.info(recovered, "resumed tasks left by the previous run");
        consumer.start(runner.run, { concurrency: config.workerConcurrency });
        // This process alone sends callbacks from this database, so a lease of another run is one a
        // crash interrupted: due now rather than when it expires.
        const released = await storage.releaseLeasesOfEarlierRuns(runId, clock.now());
        if (released > 0) logger.info({ released }, "released callback leases left by the previous run");
      }
      callbacks.start();
      repeat(DEADLINE_SWEEP_MS, () => tasks.failOverdue(), "deadline sweep");
      repeat(RETENTION_SWEEP_MS, sweepRetention, "retention sweep");
      // In the background: an upstream slow to answer must not hold the start up; /readyz shows
      // the answer once it comes.
      const checkUpstreams = async (): Promise<void> => {
        // Routes share upstreams: each is asked once, not once per model it serves.
        if (routing !== null) await routing.checkUpstreams();
        else await Promise.all(router.providers().map((candidate) => candidate.checkUpstream?.()));
      };
      checkUpstreams().catch((error: unknown) => logger.error({ err: error }, "upstream check failed"));
      repeat(UPSTREAM_CHECK_MS, checkUpstreams, "upstream check");
      // A file store that cannot be reached now (a bucket down) must not keep the server from
      // starting: /readyz says so, and the sweep runs again within the hour.
      await sweepRetention().catch((error: unknown) => logger.error({ err: error }, "retention sweep failed"));
      return address;
    },
    async sweep() {
      await tasks.failOverdue();
      await sweepRetention();
      await keyUsage.flush();
    },
    async stop() {
      for (const timer of timers) clearInterval(timer);
      metrics.stop();
      // A client that stops reading (a stalled image download) must not hold shutdown up forever.
      const cutOff = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs);
      await app.close();
      clearTimeout(cutOff);
      // The uses the last requests noted, while the store is still open.
      if (!closed) await keyUsage.flush().catch((error: unknown) => logger.warn({ err: error }, "could not record when keys were last used"));
      const consumer = dispatch.consumer;
      const stillRunning = consumer === null ? [] : await consumer.stop(config.shutdownGraceMs);
      if (consumer !== null && stillRunning.length > 0) {
        runner.abortAll();
        logger.info({ tasks: stillRunning.length }, "left running tasks to be resumed (at the next start, or by another worker)");
        await consumer.stop(1_000);
      }
      // Before the store closes, so attempts in flight are recorded; unsent ones wait in the outbox.
      await callbacks.stop(Math.min(config.shutdownGraceMs, 5_000));
      // Once, though stop may be called again.
      if (!closed) {
        closed = true;
        await files.close();
        await rateLimits.close();
        await dispatch.close();
        await storage.close();
      }
    },
  };
}
