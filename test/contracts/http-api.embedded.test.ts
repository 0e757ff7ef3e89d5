import { newAccountThroughAdmin } from "../helpers/admin-api.ts";
import { startTestServer } from "../helpers/test-server.ts";
import { httpApiContract } from "./http-api.contract.ts";

const ADMIN_KEY = "admin-key-of-the-embedded-contract-run";
const LATENCY_MS = 150;

// The embedded default: one process, SQLite and local files, accounts made through the admin API.
httpApiContract("one embedded server", async () => {
  const server = await startTestServer({
    ADMIN_API_KEY: ADMIN_KEY,
    SANDBOX_LATENCY_MS: String(LATENCY_MS),
    CALLBACK_ALLOW_PRIVATE: "true",
  });
  return {
    baseUrls: [server.baseUrl],
    adminKey: ADMIN_KEY,
    latencyMs: LATENCY_MS,
    newAccount: (name, credits) => newAccountThroughAdmin(server.baseUrl, ADMIN_KEY, name, credits),
    stop: () => server.close(),
  };
});
