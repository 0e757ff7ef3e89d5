import { createHmac, randomBytes } from "node:crypto";

const PREFIX = "whsec_";

/** An account's webhook secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks form). */
export function generateWebhookSecret(random: (size: number) => Buffer = randomBytes): string {
  return `${PREFIX}${random(32).toString("base64")}`;
}

/** The HMAC key: the decoded bytes after the prefix. */
export function webhookKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, "base64");
}

export interface SignedHeaders {
  "Content-Type": string;
  "X-Webhook-Timestamp": string;
  "X-Webhook-Signature": string;
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/**
 * Both signature schemes of the contract: base64(HMAC-SHA256(key, taskId.timestamp)) in
 * X-Webhook-Signature, and Standard Webhooks' `v1,` + base64(HMAC-SHA256(key, id.timestamp.body)).
 */
export function signCallback(options: {
  secret: string;
  webhookId: string;
  taskId: string;
  timestampSeconds: number;
  body: string;
}): SignedHeaders {
  const key = webhookKey(options.secret);
  const timestamp = String(options.timestampSeconds);
  const simple = createHmac("sha256", key).update(`${options.taskId}.${timestamp}`).digest("base64");
  const standard = createHmac("sha256", key).update(`${options.webhookId}.${timestamp}.${options.body}`).digest("base64");
  return {
    "Content-Type": "application/json",
    "X-Webhook-Timestamp": timestamp,
    "X-Webhook-Signature": simple,
    "webhook-id": options.webhookId,
    "webhook-timestamp": timestamp,
    "webhook-signature": `v1,${standard}`,
  };
}
