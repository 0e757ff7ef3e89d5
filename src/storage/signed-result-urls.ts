import type { Clock } from "../domain/clock.ts";
import type { ResultClaim, ResultUrls } from "./result-urls.ts";
import type { UrlSigner } from "./url-signer.ts";

/** The path below the public base URL under which stored files are served. */
const FILES_PREFIX = "/files/";
const RESULT_PATH = /^\/files\/\d{4}-\d{2}-\d{2}\/(task_[0-9a-z]{26})\.(png|jpg)$/;

/** Result URLs that are imagegate's own signed /files URLs, served by whichever process receives them. */
export class SignedResultUrls implements ResultUrls {
  constructor(
    private readonly signer: UrlSigner,
    private readonly clock: Clock,
  ) {}

  issue(key: string, expiresAt: number): Promise<string> {
    return Promise.resolve(this.signer.sign(`${FILES_PREFIX}${key}`, expiresAt));
  }

  claim(url: string): ResultClaim | null {
    const parts = this.signer.parse(url);
    const taskId = parts === null ? undefined : RESULT_PATH.exec(parts.path)?.[1];
    if (parts === null || taskId === undefined) return null;
    // An expired URL is still this server's: the caller tells expiry apart from tampering.
    if (this.signer.verify(parts.path, parts, Math.floor(this.clock.now() / 1000)) === "tampered") return null;
    const file = { key: parts.path.slice(FILES_PREFIX.length), expiresAt: Number(parts.expires) };
    // The signature proves this server issued the URL, key and expiry included: nothing to look up.
    return { taskId, confirm: () => file };
  }
}
