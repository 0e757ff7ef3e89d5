/**
 * A configuration value that cannot be used; the message names the variable. Its own module, so
 * that the readers of each backend's settings can throw it without importing config.ts, which
 * imports them.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
