// Word-level difference between two answers, for highlighting what a model says that the
// preferred answer does not. Words are runs of letters, digits and inner apostrophes or hyphens,
// compared case-insensitively; everything between words (spaces, punctuation) is kept as it is
// and never counts as a difference. The alignment is a longest common subsequence of words.
// Pure functions: the page renders the parts with textContent.

interface Piece {
  text: string;
  word: boolean;
}

const WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu;

/** The text cut into words and the separators between them; joining the pieces gives the text back. */
export function splitWords(text: string): Piece[] {
  const out: Piece[] = [];
  let last = 0;
  for (const m of text.matchAll(WORD)) {
    if (m.index > last) out.push({ text: text.slice(last, m.index), word: false });
    out.push({ text: m[0], word: true });
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), word: false });
  return out;
}

const norm = (w: string) => w.toLowerCase().replace(/’/g, "'");

/** Beyond this many word pairs the alignment falls back to matching a common prefix and suffix. */
const MAX_CELLS = 4_000_000;

/** For each word of a and b, whether it is part of the longest common subsequence. */
export function commonWords(a: string[], b: string[]): { inA: boolean[]; inB: boolean[] } {
  const n = a.length;
  const m = b.length;
  const inA = new Array<boolean>(n).fill(false);
  const inB = new Array<boolean>(m).fill(false);
  if (n * m > MAX_CELLS) {
    let p = 0;
    while (p < n && p < m && a[p] === b[p]) inA[p] = inB[p++] = true;
    let s = 0;
    while (s < n - p && s < m - p && a[n - 1 - s] === b[m - 1 - s]) inA[n - 1 - s] = inB[m - 1 - s++] = true;
    return { inA, inB };
  }
  // lcs[i][j]: LCS length of a[i..] and b[j..], in one flat array.
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i * w + j] = a[i] === b[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      inA[i++] = true;
      inB[j++] = true;
    } else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) i++;
    else j++;
  }
  return { inA, inB };
}

/**
 * `answer` cut into parts, each marked changed when it is a word the alignment with `reference`
 * does not match. Joining the parts' text gives `answer` back exactly.
 */
export function markChanged(reference: string, answer: string): { text: string; changed: boolean }[] {
  const ref = splitWords(reference).filter((p) => p.word);
  const ans = splitWords(answer);
  const words = ans.filter((p) => p.word);
  const { inB } = commonWords(
    ref.map((p) => norm(p.text)),
    words.map((p) => norm(p.text)),
  );
  let k = 0;
  const out: { text: string; changed: boolean }[] = [];
  const push = (text: string, changed: boolean) => {
    const prev = out[out.length - 1];
    if (prev && prev.changed === changed) prev.text += text;
    else if (text) out.push({ text, changed });
  };
  let gap = ''; // the separator since the last word
  for (const p of ans) {
    if (!p.word) {
      gap += p.text;
      continue;
    }
    const changed = !inB[k++];
    // Between two changed words the separator is highlighted too: "two red cups" reads as one run.
    const prev = out[out.length - 1];
    if (changed && prev?.changed && gap) prev.text += gap;
    else push(gap, false);
    gap = '';
    push(p.text, changed);
  }
  push(gap, false);
  return out;
}
