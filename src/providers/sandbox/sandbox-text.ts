const ELLIPSIS = "…";

/**
 * Estimated advance of one code point in ems of DejaVu Sans. Slightly generous, so a line that
 * fits the estimate fits the panel; exact shaping would need the font itself.
 */
function characterEms(character: string): number {
  if (character === " ") return 0.32;
  if (/\p{M}/u.test(character)) return 0;
  if (/[fijlrtI.,:;'!|()[\]]/.test(character)) return 0.42;
  if (/[mwMW@%]/.test(character)) return 1;
  if (/[A-Z]/.test(character)) return 0.76;
  if (/[\x21-\x7e]/.test(character)) return 0.64;
  if (/\p{Extended_Pictographic}/u.test(character)) return 1.25;
  if (/[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{20000}-\u{3fffd}]/u.test(character)) {
    return 1.05;
  }
  return 0.75;
}

function measureEms(text: string): number {
  let ems = 0;
  for (const character of text) ems += characterEms(character);
  return ems;
}

/**
 * Greedy word wrap into at most `maxLines` lines; text that does not fit ends in an ellipsis.
 * Explicit line breaks in the prompt are kept (runs of blank lines collapse to one).
 */
export function wrapText(text: string, maxLineEms: number, maxLines: number): string[] {
  const lines: string[] = [];
  const spaceEms = characterEms(" ");
  let current = "";
  let currentEms = 0;
  let blankLinePending = false;

  /** Ends the current line; false when there is no room for it (the text is truncated). */
  const breakLine = (): boolean => {
    if (current === "") return true;
    const needed = blankLinePending && lines.length > 0 ? 2 : 1;
    if (lines.length + needed > maxLines) return false;
    if (needed === 2) lines.push("");
    blankLinePending = false;
    lines.push(current);
    current = "";
    currentEms = 0;
    return true;
  };

  const finish = (truncated: boolean): string[] => {
    if (!truncated) return lines;
    // The line that did not fit is dropped; the last one kept shows that text follows.
    const last = lines.pop() ?? "";
    lines.push(withEllipsis(last, maxLineEms));
    return lines;
  };

  for (const paragraph of sanitizeForXml(text).split(/\r\n|\r|\n/)) {
    const words = paragraph.split(/[\t\f\v ]+/).filter((word) => word.length > 0);
    if (words.length === 0) {
      blankLinePending = true;
      continue;
    }
    for (const word of words) {
      const wordEms = measureEms(word);
      const joinedEms = current === "" ? wordEms : currentEms + spaceEms + wordEms;
      if (joinedEms <= maxLineEms) {
        current = current === "" ? word : `${current} ${word}`;
        currentEms = joinedEms;
        continue;
      }
      if (!breakLine()) return finish(true);
      // A word wider than a whole line is cut wherever the line is full.
      for (const character of word) {
        const ems = characterEms(character);
        if (current !== "" && currentEms + ems > maxLineEms && !breakLine()) return finish(true);
        current += character;
        currentEms += ems;
      }
    }
    if (!breakLine()) return finish(true);
  }
  return finish(false);
}

function withEllipsis(line: string, maxLineEms: number): string {
  const characters = Array.from(line.trimEnd());
  const budget = maxLineEms - measureEms(ELLIPSIS);
  while (characters.length > 0 && measureEms(characters.join("")) > budget) characters.pop();
  return `${characters.join("").trimEnd()}${ELLIPSIS}`;
}

/**
 * XML 1.0 forbids most control characters, and one in the prompt would make the SVG unparseable.
 * Lone surrogates are left alone: UTF-8 encoding already turns them into U+FFFD.
 */
function sanitizeForXml(text: string): string {
  return text.replace(/[\p{Cc}\ufffe\uffff]/gu, (character) => (character === "\n" || character === "\r" ? character : " "));
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => {
    switch (character) {
      case "&":
        return "&amp;";
      case "<":
        return "&lt;";
      case ">":
        return "&gt;";
      case '"':
        return "&quot;";
      default:
        return "&apos;";
    }
  });
}
