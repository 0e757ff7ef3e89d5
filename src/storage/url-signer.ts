import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { link, mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { isErrorCode, syncDirectory } from "./durable-files.ts";

export type SignatureCheck = "valid" | "tampered" | "expired";

export interface SignedUrlParts {
  /** The path below the public base URL, starting with `/`. */
  path: string;
  expires: string;
  signature: string;
}

/**
 * Only unreserved URL characters and `/`: a signed path then appears byte for byte in the URL,
 * so the path the server routes on is exactly the path that was signed, with no encoding step
 * that two sides could do differently.
 */
const SIGNABLE_PATH = /^\/[A-Za-z0-9\-._~/]*$/;
const CANONICAL_EXPIRES = /^(0|[1-9][0-9]{0,14})$/;
const SECRET_BYTES = 32;

/**
 * Signs result-file URLs so that anyone holding one can fetch the file until it expires,
 * without an API key, and nobody can forge or extend one.
 */
export class UrlSigner {
  private readonly secret: Buffer;
  private readonly origin: string;
  /** The base URL's path without a trailing slash; empty when the base is a bare origin. */
  private readonly pathPrefix: string;

  constructor(options: { secret: Buffer; publicBaseUrl: string }) {
    if (options.secret.length < 16) throw new Error("URL signing secret must be at least 16 bytes");
    const base = new URL(options.publicBaseUrl);
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new Error(`Public base URL must be http or https: ${options.publicBaseUrl}`);
    }
    if (base.search !== "" || base.hash !== "" || base.username !== "" || base.password !== "") {
      throw new Error(`Public base URL must not carry credentials, a query or a fragment: ${options.publicBaseUrl}`);
    }
    this.secret = options.secret;
    this.origin = base.origin;
    this.pathPrefix = base.pathname.replace(/\/+$/, "");
  }

  /** `expiresAt` is in epoch seconds. */
  sign(path: string, expiresAt: number): string {
    if (!SIGNABLE_PATH.test(path)) throw new Error(`Cannot sign path ${JSON.stringify(path)}`);
    if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) {
      throw new Error(`Expiry must be a whole number of epoch seconds, got ${expiresAt}`);
    }
    const expires = String(expiresAt);
    const signature = this.signatureFor(path, expires);
    return `${this.origin}${this.pathPrefix}${path}?expires=${expires}&signature=${signature}`;
  }

  /**
   * The signature is checked before the expiry, so "expired" is only ever said of a URL we
   * issued; anything altered is "tampered" whatever its expiry claims.
   */
  verify(path: string, query: { expires?: string; signature?: string }, nowSeconds: number): SignatureCheck {
    const { expires, signature } = query;
    if (expires === undefined || signature === undefined || !CANONICAL_EXPIRES.test(expires)) return "tampered";
    const expected = Buffer.from(this.signatureFor(path, expires));
    const given = Buffer.from(signature);
    // timingSafeEqual throws on unequal lengths; the length of a valid signature is no secret.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "tampered";
    return nowSeconds > Number(expires) ? "expired" : "valid";
  }

  /**
   * Splits a client-supplied URL into what `verify` needs, or null when it is not one of ours:
   * another origin, outside the base path, with credentials, or missing (or repeating) the
   * `expires` and `signature` parameters. The signature itself is not checked here.
   */
  parse(url: string): SignedUrlParts | null {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    if (parsed.origin !== this.origin || parsed.username !== "" || parsed.password !== "") return null;
    // URL parsing has already resolved dot segments, so "/imagegate/../x" cannot pass as ours.
    if (!parsed.pathname.startsWith(`${this.pathPrefix}/`)) return null;
    const expires = parsed.searchParams.getAll("expires");
    const signature = parsed.searchParams.getAll("signature");
    const [onlyExpires] = expires;
    const [onlySignature] = signature;
    if (expires.length !== 1 || signature.length !== 1 || onlyExpires === undefined || onlySignature === undefined) {
      return null;
    }
    return { path: parsed.pathname.slice(this.pathPrefix.length), expires: onlyExpires, signature: onlySignature };
  }

  private signatureFor(path: string, expires: string): string {
    return createHmac("sha256", this.secret).update(`${path}\n${expires}`).digest("base64url");
  }
}

/**
 * Returns the URL-signing secret kept in `<dataDir>/secrets/url-signing.key`, creating it on
 * first start, so signed URLs survive restarts without the operator configuring anything.
 */
export async function loadOrCreateSigningSecret(dataDir: string): Promise<Buffer> {
  const secretsDirectory = path.join(dataDir, "secrets");
  const keyPath = path.join(secretsDirectory, "url-signing.key");
  const existing = await readSecret(keyPath);
  if (existing !== null) return existing;

  await mkdir(dataDir, { recursive: true });
  try {
    await mkdir(secretsDirectory, { mode: 0o700 });
  } catch (error) {
    if (!isErrorCode(error, "EEXIST")) throw error;
  }
  const temporaryPath = path.join(secretsDirectory, `.url-signing.key.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporaryPath, "wx", 0o600);
  try {
    // The umask may have narrowed the mode given to open; the key file is exactly 0600.
    await handle.chmod(0o600);
    await handle.writeFile(`${randomBytes(SECRET_BYTES).toString("base64")}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await publishWithoutReplacing(temporaryPath, keyPath);
  } finally {
    await unlink(temporaryPath).catch((error: unknown) => {
      if (!isErrorCode(error, "ENOENT")) throw error;
    });
  }
  await syncDirectory(secretsDirectory);
  // Another process starting at the same time may have won; everyone uses the stored key.
  const stored = await readSecret(keyPath);
  if (stored === null) throw new Error(`URL signing key vanished after creation: ${keyPath}`);
  return stored;
}

/**
 * link() fails if the name exists, so two processes starting together cannot each publish
 * their own key; rename() is the fallback for file systems without hard links.
 */
async function publishWithoutReplacing(temporaryPath: string, keyPath: string): Promise<void> {
  try {
    await link(temporaryPath, keyPath);
  } catch (error) {
    if (isErrorCode(error, "EEXIST")) return;
    if (isErrorCode(error, "EPERM") || isErrorCode(error, "ENOTSUP") || isErrorCode(error, "ENOSYS")) {
      await rename(temporaryPath, keyPath);
      return;
    }
    throw error;
  }
}

async function readSecret(keyPath: string): Promise<Buffer | null> {
  let text: string;
  try {
    text = await readFile(keyPath, "utf8");
  } catch (error) {
    if (isErrorCode(error, "ENOENT")) return null;
    throw error;
  }
  const secret = Buffer.from(text.trim(), "base64");
  // Regenerating a damaged key would silently invalidate every issued URL; make it loud instead.
  if (secret.length !== SECRET_BYTES) {
    throw new Error(`URL signing key at ${keyPath} is not ${SECRET_BYTES} base64-encoded bytes`);
  }
  return secret;
}


