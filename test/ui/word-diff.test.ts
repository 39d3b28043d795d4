// Word-level differences between an answer and the preferred answer: which words are marked,
// that the parts give the answer back exactly, case and punctuation handling, and a long input.
import { describe, expect, it } from 'vitest';
import { commonWords, markChanged, splitWords } from '../../src/ui/word-diff';

const changed = (ref: string, ans: string) =>
  markChanged(ref, ans)
    .filter((p) => p.changed)
    .map((p) => p.text);

describe('word diff', () => {
  it('splits words and separators and joins back to the text', () => {
    const t = "A dog's  red-ball, (two) cups… 3.5 kg";
    const pieces = splitWords(t);
    expect(pieces.map((p) => p.text).join('')).toBe(t);
    expect(pieces.filter((p) => p.word).map((p) => p.text)).toEqual(['A', "dog's", 'red-ball', 'two', 'cups', '3', '5', 'kg']);
  });

  it('marks the injected words and nothing else', () => {
    expect(changed('A red ball on a green lawn.', 'A blue ball on a green lawn next to a cat.')).toEqual(['blue', 'next to a cat']);
    expect(changed('There are three cups.', 'There are five cups.')).toEqual(['five']);
    expect(changed('A red ball.', 'A red ball.')).toEqual([]);
  });

  it('ignores case and punctuation between words', () => {
    expect(changed('The circle is white.', 'the circle, is WHITE!')).toEqual([]);
  });

  it('respects word order (a longest common subsequence, not a bag of words)', () => {
    // "ball red" keeps one of the two as common, the other is marked.
    expect(changed('red ball', 'ball red')).toHaveLength(1);
    const { inA, inB } = commonWords(['a', 'b', 'c', 'd'], ['a', 'c', 'b', 'd']);
    expect(inA.filter(Boolean)).toHaveLength(3);
    expect(inB.filter(Boolean)).toHaveLength(3);
  });

  it('gives the answer back exactly, with a highlighted run not swallowing the trailing punctuation', () => {
    const ans = 'A yellow moon in a purple sky.';
    const parts = markChanged('A yellow sun in a blue sky.', ans);
    expect(parts.map((p) => p.text).join('')).toBe(ans);
    expect(parts.filter((p) => p.changed).map((p) => p.text)).toEqual(['moon', 'purple']);
    const tail = markChanged('A cat', 'A cat and a dog.');
    expect(tail.map((p) => p.text).join('')).toBe('A cat and a dog.');
    expect(tail.filter((p) => p.changed).map((p) => p.text)).toEqual(['and a dog']);
    expect(tail[tail.length - 1]).toEqual({ text: '.', changed: false });
  });

  it('handles empty texts', () => {
    expect(markChanged('', '')).toEqual([]);
    expect(changed('', 'A cat.')).toEqual(['A cat']);
    expect(changed('A cat.', '')).toEqual([]);
  });

  it('stays exact on long answers (the prefix / suffix fallback beyond the table size)', () => {
    const ref = Array.from({ length: 2500 }, (_, i) => `w${i}`).join(' ');
    const ans = ref.replace('w1200', 'zebra');
    const parts = markChanged(ref, ans);
    expect(parts.map((p) => p.text).join('')).toBe(ans);
    expect(parts.filter((p) => p.changed).map((p) => p.text)).toEqual(['zebra']);
  });
});
