import { call } from "./test-server.ts";

/** An account made through the admin API, with its one live key. */
export interface AdminMadeAccount {
  name: string;
  accountId: string;
  key: string;
  keyId: string;
}

/** Creates account `name`, grants it `credits` and makes it one live key, all through `/admin/v1` on `baseUrl`. */
export async function newAccountThroughAdmin(baseUrl: string, adminKey: string, name: string, credits: number): Promise<AdminMadeAccount> {
  const admin = { key: adminKey };
  const account = await call<{ id: string }>(baseUrl, "POST", "/admin/v1/accounts", { ...admin, body: { name } });
  if (account.status !== 200) throw new Error(`could not create account ${name}: ${JSON.stringify(account.body)}`);
  if (credits > 0) {
    const granted = await call(baseUrl, "POST", `/admin/v1/accounts/${name}/credits/grant`, { ...admin, body: { amount: credits, reason: "test credits" } });
    if (granted.status !== 200) throw new Error(`could not grant credits: ${JSON.stringify(granted.body)}`);
  }
  const key = await call<{ key: string; id: string }>(baseUrl, "POST", `/admin/v1/accounts/${name}/keys`, { ...admin, body: { mode: "live" } });
  if (key.status !== 200) throw new Error(`could not create a key: ${JSON.stringify(key.body)}`);
  return { name, accountId: account.body.data.id, key: key.body.data.key, keyId: key.body.data.id };
}
