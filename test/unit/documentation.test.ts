import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const DOCUMENTS = ["README.md", ...readdirSync(path.join(ROOT, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)];

function read(document: string): string {
  return readFileSync(path.join(ROOT, document), "utf8");
}

/** The text outside fenced code blocks, where links and headings are what they look like. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, "");
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{Letter}\p{Number} _-]/gu, "")
    .replace(/ /g, "-");
}

function anchorsOf(document: string): Set<string> {
  const headings = [...prose(read(document)).matchAll(/^#{1,6} (.+)$/gm)].map((match) => match[1] ?? "");
  return new Set(headings.map(anchorOf));
}

describe("the documentation", () => {
  it("keeps the README a front page of at most 10 KB that starts with the two commands", () => {
    const readme = read("README.md");
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(10 * 1024);
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    const commands = firstBlock.split("\n").filter((line) => line.trim() !== "").map((line) => line.split("#")[0]?.trim());
    expect(commands).toEqual(["npm install && npm start", "npm test"]);
  });

  it("links only to documents and headings that exist", () => {
    const broken: string[] = [];
    for (const document of DOCUMENTS) {
      for (const match of prose(read(document)).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] ?? "";
        if (/^[a-z]+:/.test(target)) continue;
        const [file = "", anchor] = target.split("#");
        const linked = file === "" ? document : path.join(path.dirname(document), file);
        if (!existsSync(path.join(ROOT, linked))) broken.push(`${document}: ${target} (no file ${linked})`);
        else if (anchor !== undefined && linked.endsWith(".md") && !anchorsOf(linked).has(anchor)) {
          broken.push(`${document}: ${target} (no heading #${anchor} in ${linked})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("documents every environment variable the server reads", () => {
    const config = readFileSync(path.join(ROOT, "src/config.ts"), "utf8");
    // Whole names only: GEMINI and GEMINI_FALLBACK are prefixes of the route variables.
    const variables = [...config.matchAll(/\(env, "([A-Z][A-Z0-9_]*)"/g)].map((match) => match[1] ?? "");
    const documented = new Set([...read("docs/configuration.md").matchAll(/^\| `([A-Z][A-Z0-9_]*)`/gm)].map((match) => match[1] ?? ""));
    const isPrefix = (name: string) => !documented.has(name) && [...documented].some((other) => other.startsWith(`${name}_`));
    expect(variables.length).toBeGreaterThan(20);
    expect(variables.filter((name) => !documented.has(name) && !isPrefix(name))).toEqual([]);
    expect(documented.size).toBeGreaterThan(0);
  });
});
