import type { FastifyBaseLogger } from "fastify";

type Bindings = Record<string, unknown>;
type LevelName = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
type LogCall = (...parts: unknown[]) => void;

/**
 * Fastify gives every request a logger bound to its request id. Made eagerly that is one pino
 * child per request, though most requests never log through it; this one becomes that child the
 * first time it logs at an enabled level, and costs one small object until then.
 */
export class LazyRequestLogger {
  #child: FastifyBaseLogger | null = null;

  constructor(
    private readonly parent: FastifyBaseLogger & { isLevelEnabled(level: string): boolean },
    private readonly bindings: Bindings,
    private readonly options: object,
  ) {}

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real().level = level;
  }

  fatal(...parts: unknown[]): void {
    this.log("fatal", parts);
  }
  error(...parts: unknown[]): void {
    this.log("error", parts);
  }
  warn(...parts: unknown[]): void {
    this.log("warn", parts);
  }
  info(...parts: unknown[]): void {
    this.log("info", parts);
  }
  debug(...parts: unknown[]): void {
    this.log("debug", parts);
  }
  trace(...parts: unknown[]): void {
    this.log("trace", parts);
  }
  silent(): void {}

  child(bindings: Bindings, options?: object): FastifyBaseLogger {
    return this.real().child(bindings, options);
  }

  private log(level: LevelName, parts: unknown[]): void {
    if (this.#child === null && !this.parent.isLevelEnabled(level)) return;
    (this.real()[level] as LogCall)(...parts);
  }

  private real(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }
}

/** Fastify's childLoggerFactory: a LazyRequestLogger per request. */
export function lazyRequestLogger(logger: FastifyBaseLogger, bindings: Bindings, options: object): FastifyBaseLogger {
  return new LazyRequestLogger(logger as FastifyBaseLogger & { isLevelEnabled(level: string): boolean }, bindings, options) as unknown as FastifyBaseLogger;
}
