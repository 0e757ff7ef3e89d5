import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { UrlSigner } from "../../src/storage/url-signer.ts";

const secret = Buffer.alloc(32, 7);
const filePath = "/files/2026-11-27/task_abc.png";
const expiresAt = 1_800_000_000;

function signerFor(publicBaseUrl: string): UrlSigner {
  return new UrlSigner({ secret, publicBaseUrl });
}

function queryOf(url: string): { expires: string; signature: string } {
  const parsed = new URL(url);
  return {
    expires: parsed.searchParams.get("expires") ?? "",
    signature: parsed.searchParams.get("signature") ?? "",
  };
}

describe("UrlSigner.sign", () => {
  it("builds an absolute URL whose signature is base64url HMAC-SHA256 of path, newline, expiry", () => {
    const url = signerFor("https://images.example").sign(filePath, expiresAt);
    const expected = createHmac("sha256", secret).update(`${filePath}\n${expiresAt}`).digest("base64url");
    expect(url).toBe(`https://images.example${filePath}?expires=${expiresAt}&signature=${expected}`);
  });

  it("gives the same URL whether or not the base ends with a slash", () => {
    expect(signerFor("https://images.example/").sign(filePath, expiresAt)).toBe(
      signerFor("https://images.example").sign(filePath, expiresAt),
    );
  });

  it("keeps a path prefix of the base URL and signs only the path below it", () => {
    const withPrefix = signerFor("https://x.example/imagegate/").sign(filePath, expiresAt);
    const bare = signerFor("https://x.example").sign(filePath, expiresAt);
    expect(withPrefix.startsWith(`https://x.example/imagegate${filePath}?expires=`)).toBe(true);
    expect(queryOf(withPrefix).signature).toBe(queryOf(bare).signature);
  });

  it("refuses a path that does not start with a slash or needs encoding", () => {
    const signer = signerFor("https://x.example");
    expect(() => signer.sign("files/a.png", expiresAt)).toThrow(Error);
    expect(() => signer.sign("/files/a b.png", expiresAt)).toThrow(Error);
    expect(() => signer.sign("/files/a.png?x=1", expiresAt)).toThrow(Error);
  });

  it("refuses an expiry that is not a whole number of seconds", () => {
    const signer = signerFor("https://x.example");
    expect(() => signer.sign(filePath, 1.5)).toThrow(Error);
    expect(() => signer.sign(filePath, Number.NaN)).toThrow(Error);
    expect(() => signer.sign(filePath, -1)).toThrow(Error);
  });

  it("refuses a base URL with a query, fragment or non-HTTP scheme", () => {
    expect(() => signerFor("https://x.example/?a=1")).toThrow(Error);
    expect(() => signerFor("https://x.example/#a")).toThrow(Error);
    expect(() => signerFor("ftp://x.example/")).toThrow(Error);
  });
});

describe("UrlSigner.verify", () => {
  const signer = signerFor("https://x.example/imagegate");
  const query = queryOf(signer.sign(filePath, expiresAt));

  it("accepts its own URL before the expiry", () => {
    expect(signer.verify(filePath, query, expiresAt - 60)).toBe("valid");
  });

  it("accepts its own URL at the expiry second itself", () => {
    expect(signer.verify(filePath, query, expiresAt)).toBe("valid");
  });

  it("says expired once the expiry has passed", () => {
    expect(signer.verify(filePath, query, expiresAt + 1)).toBe("expired");
  });

  it("says tampered when the path changed", () => {
    expect(signer.verify("/files/2026-11-27/task_other.png", query, expiresAt - 60)).toBe("tampered");
  });

  it("says tampered when the expiry was extended, even after the original expiry", () => {
    const extended = { ...query, expires: String(expiresAt + 86_400) };
    expect(signer.verify(filePath, extended, expiresAt + 10)).toBe("tampered");
  });

  it("says tampered for an expiry written differently from the signed one", () => {
    expect(signer.verify(filePath, { ...query, expires: `0${query.expires}` }, expiresAt - 60)).toBe("tampered");
    expect(signer.verify(filePath, { ...query, expires: `${query.expires}.0` }, expiresAt - 60)).toBe("tampered");
    expect(signer.verify(filePath, { ...query, expires: "soon" }, expiresAt - 60)).toBe("tampered");
  });

  it("says tampered when one character of the signature changed", () => {
    const last = query.signature.slice(-1);
    const changed = query.signature.slice(0, -1) + (last === "A" ? "B" : "A");
    expect(signer.verify(filePath, { ...query, signature: changed }, expiresAt - 60)).toBe("tampered");
  });

  it("says tampered for a signature of the wrong length", () => {
    expect(signer.verify(filePath, { ...query, signature: `${query.signature}A` }, expiresAt - 60)).toBe("tampered");
    expect(signer.verify(filePath, { ...query, signature: "" }, expiresAt - 60)).toBe("tampered");
  });

  it("says tampered when the signature or expiry is missing", () => {
    expect(signer.verify(filePath, { expires: query.expires }, expiresAt - 60)).toBe("tampered");
    expect(signer.verify(filePath, { signature: query.signature }, expiresAt - 60)).toBe("tampered");
    expect(signer.verify(filePath, {}, expiresAt - 60)).toBe("tampered");
  });

  it("says tampered for a URL signed with another secret", () => {
    const other = new UrlSigner({ secret: Buffer.alloc(32, 8), publicBaseUrl: "https://x.example/imagegate" });
    const foreign = queryOf(other.sign(filePath, expiresAt));
    expect(signer.verify(filePath, foreign, expiresAt - 60)).toBe("tampered");
  });
});

describe("UrlSigner.parse", () => {
  const signer = signerFor("https://x.example/imagegate/");

  it("round-trips a signed URL under a base with a path prefix", () => {
    const url = signer.sign(filePath, expiresAt);
    const parts = signer.parse(url);
    expect(parts).toEqual({ path: filePath, ...queryOf(url) });
    if (parts === null) return;
    expect(signer.verify(parts.path, parts, expiresAt - 60)).toBe("valid");
  });

  it("rejects a URL on another host, scheme or port", () => {
    const url = new URL(signer.sign(filePath, expiresAt));
    for (const origin of ["https://evil.example", "http://x.example", "https://x.example:8443"]) {
      expect(signer.parse(`${origin}${url.pathname}${url.search}`)).toBeNull();
    }
  });

  it("rejects a URL with the right host but outside the base path", () => {
    const { search } = new URL(signer.sign(filePath, expiresAt));
    expect(signer.parse(`https://x.example${filePath}${search}`)).toBeNull();
    expect(signer.parse(`https://x.example/imagegateway${filePath}${search}`)).toBeNull();
    expect(signer.parse(`https://x.example/imagegate/../other${filePath}${search}`)).toBeNull();
  });

  it("rejects a URL carrying credentials", () => {
    const url = signer.sign(filePath, expiresAt).replace("https://", "https://user:password@");
    expect(signer.parse(url)).toBeNull();
  });

  it("rejects a URL missing or repeating the signature parameters", () => {
    const url = signer.sign(filePath, expiresAt);
    const { expires, signature } = queryOf(url);
    const base = `https://x.example/imagegate${filePath}`;
    expect(signer.parse(`${base}?expires=${expires}`)).toBeNull();
    expect(signer.parse(`${base}?signature=${signature}`)).toBeNull();
    expect(signer.parse(`${url}&signature=${signature}`)).toBeNull();
  });

  it("rejects text that is not a URL", () => {
    expect(signer.parse("not a url")).toBeNull();
    expect(signer.parse("")).toBeNull();
  });

  it("treats the host name case-insensitively, as URLs do", () => {
    const url = signer.sign(filePath, expiresAt).replace("x.example", "X.EXAMPLE");
    expect(signer.parse(url)?.path).toBe(filePath);
  });
});
