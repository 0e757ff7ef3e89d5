import { TestCluster } from "../helpers/cluster.ts";
import { httpApiContract } from "./http-api.contract.ts";

const LATENCY_MS = 150;

// Two API and two worker processes on PostgreSQL, Redis and S3: requests go to each API process
// directly and through the load balancer, so every answer is checked against another process's work.
httpApiContract(
  "two API and two worker processes",
  async () => {
    const cluster = await TestCluster.start({ env: { SANDBOX_LATENCY_MS: String(LATENCY_MS) } });
    return {
      baseUrls: [...cluster.living("api").map((member) => member.baseUrl), cluster.baseUrl],
      adminKey: cluster.adminKey,
      latencyMs: LATENCY_MS,
      newAccount: (name, credits) => cluster.newAccount(name, credits),
      stop: () => cluster.stop(),
    };
  },
  90_000,
);
