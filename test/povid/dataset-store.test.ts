// The Worker's dataset store: records too long for the loaded model's context are flagged as
// soon as a model is loaded (whether the data or the model came first), listed as problems,
// left out of training, and unflagged when fixed.
import { describe, expect, it } from 'vitest';
import { DatasetStore, type LengthLimit } from '../../src/worker/dataset-store';
import { PNG_1X1 } from './helpers';

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
/** A stand-in for the tokenizer: 10 tokens of image and prompt, one token per word, one end token. */
const limit = (maxTokens: number): LengthLimit => ({ model: 'Tiny', maxTokens, length: (q, a) => 10 + words(q) + words(a) + 1 });

const LONG = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');

function drop() {
  const lines = [
    { id: 'short', image: 'a.png', question: 'What is it?', answer: 'A red cat.' },
    { id: 'long', image: 'a.png', question: 'Describe it.', answer: LONG },
    { id: 'long-rejected', image: 'a.png', question: 'What is it?', answer: 'A cat.', rejected: LONG },
    { id: 'other', image: 'a.png', question: 'Where is it?', answer: 'On a mat.' },
  ];
  return [
    { path: 'qa.jsonl', blob: new Blob([lines.map((l) => JSON.stringify(l)).join('\n')]) },
    { path: 'a.png', blob: new Blob([PNG_1X1]) },
  ];
}

const store = () => new DatasetStore({ seed: 1, strength: 0.5, heldoutFraction: 0 });

describe('DatasetStore: answers too long for the model', () => {
  it('flags records when the model is loaded after the data', async () => {
    const s = store();
    const before = await s.add(drop());
    expect(before.records.every((r) => r.split === 'train' && r.flag === undefined)).toBe(true);
    expect(before.problems).toEqual([]);

    expect(await s.setLimit(limit(30))).toBe(2);
    const v = s.view();
    const byId = new Map(v.records.map((r) => [r.id, r]));
    expect(byId.get('long')!.split).toBe('excluded');
    expect(byId.get('long')!.flag).toBe(
      "with the image and the question, the answer makes 53 tokens, over the 30 of Tiny's context; shorten it (the record is left out of training until then)",
    );
    expect(byId.get('long-rejected')!.flag).toMatch(/^with the image and the question, the rejected answer makes 54 tokens/);
    expect(byId.get('short')!.split).toBe('train');
    expect(v.problems.map((p) => [p.file, p.record, p.line])).toEqual([
      ['qa.jsonl', 'long', 2],
      ['qa.jsonl', 'long-rejected', 3],
    ]);
    expect(v.problems[0].reason).toMatch(/^line 2: with the image and the question, the answer makes 53 tokens/);

    // Left out of training and of the data key.
    const split = s.split(1, 0);
    expect([...split.train, ...split.heldout].map((r) => r.id).sort()).toEqual(['other', 'short']);
    expect(s.key()).toMatch(/^2-/);
  });

  it('flags the same records when the model came first', async () => {
    const s = store();
    expect(await s.setLimit(limit(30))).toBe(0);
    const v = await s.add(drop());
    expect(v.records.filter((r) => r.split === 'excluded').map((r) => r.id)).toEqual(['long', 'long-rejected']);
    expect(v.problems.map((p) => p.record)).toEqual(['long', 'long-rejected']);
  });

  it('unflags a record when it is shortened, and all of them for a model with a longer context', async () => {
    const s = store();
    await s.add(drop());
    await s.setLimit(limit(30));
    const fixed = s.update('long', { chosen: 'A short answer now.' });
    expect(fixed.split).toBe('train');
    expect(fixed.flag).toBeUndefined();
    expect(s.view().problems.map((p) => p.record)).toEqual(['long-rejected']);
    // An edit that makes it too long again flags it again.
    expect(s.update('long', { chosen: LONG }).split).toBe('excluded');
    expect(await s.setLimit(limit(1000))).toBe(0);
    expect(s.view().problems).toEqual([]);
    expect(await s.setLimit(null)).toBe(0);
  });

  it('flags a record whose text the tokenizer refuses, with its message', async () => {
    const s = store();
    await s.add(drop());
    const refusing: LengthLimit = {
      model: 'Tiny',
      maxTokens: 1000,
      length: (_q, a) => {
        if (a.includes('mat')) throw new Error('the answer contains the special token <image>');
        return 5;
      },
    };
    expect(await s.setLimit(refusing)).toBe(1);
    expect(s.view().records.find((r) => r.id === 'other')!.flag).toBe(
      'the answer cannot be used with Tiny: the answer contains the special token <image>',
    );
  });

  it('a limited view carries the first records, and slice() the rest, with a version that changes with the records', async () => {
    const s = new DatasetStore({ seed: 1, strength: 0.5, heldoutFraction: 0, viewLimit: 3 });
    const v = await s.add(drop());
    expect(v.records.map((r) => r.id)).toEqual(['short', 'long', 'long-rejected']);
    expect(v.total).toBe(4);
    expect(s.slice(3, 10).map((r) => r.id)).toEqual(['other']);
    expect(s.view(Infinity).records).toHaveLength(4);
    const before = s.version;
    s.remove('other');
    expect(s.version).toBe(before + 1);
  });

  it('removing or clearing drops the flags', async () => {
    const s = store();
    await s.add(drop());
    await s.setLimit(limit(30));
    expect(s.remove('long').problems.map((p) => p.record)).toEqual(['long-rejected']);
    s.clear();
    expect(s.view()).toMatchObject({ records: [], problems: [], total: 0 });
  });
});
