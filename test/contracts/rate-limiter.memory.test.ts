import { FlexibleRateLimiter } from "../../src/limits/flexible-rate-limiter.ts";
import { rateLimiterContract } from "./rate-limiter.contract.ts";

rateLimiterContract("memory", async () => {
  // One process holds the counts: its every user shares the one limiter.
  const limiter = new FlexibleRateLimiter();
  return { open: async () => limiter, cleanup: async () => undefined };
});
