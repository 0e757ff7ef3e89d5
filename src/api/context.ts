import type { Logger } from "pino";
import type { AccountService } from "../domain/accounts/account-service.ts";
import type { Caller } from "../domain/accounts/account.ts";
import type { KeyUsage } from "../domain/accounts/key-usage.ts";
import type { CallbackService } from "../domain/callbacks/callback-service.ts";
import type { Catalog } from "../domain/catalog/catalog.ts";
import type { Clock } from "../domain/clock.ts";
import type { RateLimiter } from "../domain/limits/rate-limiter.ts";
import type { TaskEvents } from "../domain/tasks/events.ts";
import type { TaskReports } from "../domain/tasks/reports.ts";
import type { RateLimitDefaults } from "./rate-limiting.ts";
import type { TaskService } from "../domain/tasks/task-service.ts";
import type { UploadService } from "../domain/uploads/upload-service.ts";
import type { ImageDownload } from "../net/image-download.ts";
import type { UpstreamDirectory } from "../providers/routing/upstream-routing.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { ResultUrls } from "../storage/result-urls.ts";
import type { UrlSigner } from "../storage/url-signer.ts";

/** What the HTTP layer needs of the metrics: to record each request, and the exposition. */
export interface HttpMetrics {
  /** `route` is the matched route's pattern, undefined when none matched. */
  observeRequest(method: string, route: string | undefined, statusCode: number, seconds: number): void;
  readonly contentType: string;
  render(): Promise<string>;
}

export interface ReadinessCheck {
  name: string;
  /** Shown, but not counted: /readyz answers 200 whatever it says (an upstream among several). */
  informational?: boolean;
  /** `circuit`: an upstream's circuit state, for the upstreams' checks. */
  check(): Promise<{ ok: boolean; reason?: string; circuit?: string }>;
}

/** Everything the HTTP layer calls; built once in main.ts. */
export interface ApiContext {
  accounts: AccountService;
  /** When each key was last used, noted by authentication. */
  keyUsage: KeyUsage;
  tasks: TaskService;
  /** Changes of tasks made by any process, for live streams. */
  taskEvents: TaskEvents;
  callbacks: CallbackService;
  catalog: Catalog;
  blobs: BlobStore;
  /** Signs uploads' downloadUrls and checks /files URLs. */
  signer: UrlSigner;
  /** The URLs result files are given under (download-url). */
  resultUrls: ResultUrls;
  clock: Clock;
  logger: Logger;
  readiness: readonly ReadinessCheck[];
  publicBaseUrl: string;
  rateLimiter: RateLimiter;
  rateLimits: RateLimitDefaults;
  reports: TaskReports;
  /** Bearer credential of /admin/v1; null disables the admin API. */
  adminApiKey: string | null;
  metrics: HttpMetrics;
  /** Bearer credential of /metrics; null leaves it open. */
  metricsToken: string | null;
  uploads: UploadService;
  /** Fetches file-url-upload's fileUrl under INPUT_IMAGE_*. */
  downloadImage: ImageDownload;
  /** Browser origins allowed cross-origin: any ("*"), these, or none (null: nothing registered). */
  corsOrigins: "*" | readonly string[] | null;
  /** The upstreams this process calls and its figures of them (GET /admin/v1/upstreams). */
  upstreams?: UpstreamDirectory;
  /** ROLE of this process: the upstream figures are its own. */
  processRole?: "all" | "api" | "worker";
}

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the authentication hook on every /api/v1 route. */
    caller: Caller | null;
  }
}
