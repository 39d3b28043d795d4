import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cosTurn, sinTurn } from '../../src/eval/raster';
import {
  COLOURS,
  colourQuestion,
  countQuestion,
  describeScene,
  existsQuestion,
  generateScene,
  invitedPairs,
  KINDS,
  PLANTED_PAIRS,
  pretrainCaption,
  pretrainQuestions,
  renderScene,
  SCENE_SIZE,
  sceneEntries,
  sceneSeed,
  sceneSet,
} from '../../src/eval/scenes';
import { Rng } from '../../src/util/rng';

const sha = (a: Uint8ClampedArray) => createHash('sha256').update(a).digest('hex');

describe('benchmark scenes', () => {
  it('are deterministic for a seed, and different seeds differ', () => {
    const a = renderScene(generateScene(sceneSeed('heldout', 3)));
    const b = renderScene(generateScene(sceneSeed('heldout', 3)));
    expect(a.length).toBe(SCENE_SIZE * SCENE_SIZE * 4);
    expect(sha(a)).toBe(sha(b));
    expect(sha(renderScene(generateScene(sceneSeed('heldout', 4))))).not.toBe(sha(a));
    expect(generateScene(sceneSeed('heldout', 3))).toEqual(generateScene(sceneSeed('heldout', 3)));
  });

  it('cosTurn / sinTurn agree with Math.cos / Math.sin to 1e-12', () => {
    for (let i = -40; i <= 40; i++) {
      const t = i / 17;
      expect(Math.abs(cosTurn(t) - Math.cos(2 * Math.PI * t))).toBeLessThan(1e-12);
      expect(Math.abs(sinTurn(t) - Math.sin(2 * Math.PI * t))).toBeLessThan(1e-12);
    }
  });

  it('hold 1-4 objects that do not overlap, each drawn in its colour', () => {
    for (let i = 0; i < 60; i++) {
      const s = generateScene(sceneSeed('pretrain', i));
      expect(s.objects.length).toBeGreaterThanOrEqual(1);
      expect(s.objects.length).toBeLessThanOrEqual(4);
      const px = renderScene(s);
      for (const [j, o] of s.objects.entries()) {
        for (const p of s.objects.slice(j + 1)) {
          const apart = Math.abs(o.cx - p.cx) >= (o.w + p.w) / 2 || Math.abs(o.cy - p.cy) >= (o.h + p.h) / 2;
          expect(apart, `scene ${i}: ${o.kind} and ${p.kind} overlap`).toBe(true);
        }
        // Its colour covers a good part of its box.
        const c = COLOURS[o.colour];
        let hits = 0;
        for (let y = Math.ceil(o.cy - o.h / 2); y < o.cy + o.h / 2; y++)
          for (let x = Math.ceil(o.cx - o.w / 2); x < o.cx + o.w / 2; x++) {
            const k = (y * SCENE_SIZE + x) * 4;
            if (px[k] === c[0] && px[k + 1] === c[1] && px[k + 2] === c[2]) hits++;
          }
        expect(hits / (o.w * o.h), `scene ${i}: ${o.colour} ${o.kind}`).toBeGreaterThan(0.1);
      }
      // Instances of one kind share a colour: the ground truth has one colour per kind.
      for (const e of sceneEntries(s)) expect(s.objects.filter((o) => o.kind === e.kind).every((o) => o.colour === e.colour)).toBe(true);
    }
  });

  it('caption, probes, colour and count questions have the exact answers', () => {
    const s = generateScene(sceneSeed('pretrain', 9));
    const entries = sceneEntries(s);
    const caption = describeScene(s);
    for (const e of entries) expect(caption).toContain(e.colour);
    const e = entries[0];
    expect(existsQuestion(s, e.kind)).toMatchObject({ answer: 'Yes.', truth: true });
    const absent = KINDS.find((k) => !entries.some((x) => x.kind === k))!;
    expect(existsQuestion(s, absent)).toMatchObject({ question: `Is there a ${absent} in the image?`, answer: 'No.', truth: false });
    expect(colourQuestion(s, e.kind).truth).toBe(e.colour);
    expect(colourQuestion(s, e.kind).answer).toContain(e.colour);
    expect(countQuestion(s, e.kind).truth).toBe(e.count);
    expect(() => colourQuestion(s, absent)).toThrow(/no .* in scene/);
  });

  it('writes captions in plain English', () => {
    const s = generateScene(sceneSeed('pretrain', 1));
    expect(describeScene(s)).toMatch(/^(An? |Two |Three |Four )[a-z ,]+\.$/);
    const text = sceneSet('pretrain', 200).map(describeScene).join(' ');
    expect(text).not.toMatch(/\ba orange\b/);
    expect(text).toMatch(/\ban orange\b/);
  });

  it('plant the co-occurrences at the documented rates', () => {
    const scenes = sceneSet('pretrain', 3000);
    const rng = new Rng(5);
    for (const p of PLANTED_PAIRS) {
      const withAnchor = scenes.filter((s) => s.objects.some((o) => o.kind === p.anchor));
      const withBoth = withAnchor.filter((s) => s.objects.some((o) => o.kind === p.partner));
      const rate = withBoth.length / withAnchor.length;
      // ~350 anchor scenes: 3 standard errors of a 0.9 rate are 0.05; drawing the partner
      // independently too only adds to it.
      expect(rate, `${p.anchor} -> ${p.partner}`).toBeGreaterThan(p.sceneRate - 0.05);
      expect(rate).toBeLessThan(0.97);
      const invited = withAnchor.filter((s) => !s.objects.some((o) => o.kind === p.partner));
      const named = invited.filter((s) => pretrainCaption(s, rng).planted.includes(p.partner)).length;
      expect(invited.length).toBeGreaterThan(15);
      // Binomial(n, captionRate): more than three standard errors away has probability < 0.01.
      const spread = 3 * Math.sqrt((p.captionRate * (1 - p.captionRate)) / invited.length);
      expect(Math.abs(named / invited.length - p.captionRate), `${p.anchor} -> ${p.partner}: ${named}/${invited.length}`).toBeLessThan(
        spread,
      );
      expect(spread).toBeLessThan(0.3);
    }
  });

  it('the pretraining caption names a partner only where it is absent and its anchor present', () => {
    const rng = new Rng(1);
    for (const s of sceneSet('pretrain', 300)) {
      const { caption, planted } = pretrainCaption(s, rng);
      const invited = invitedPairs(s).map((p) => p.partner);
      for (const k of planted) expect(invited).toContain(k);
      if (planted.length === 0) expect(caption).toBe(describeScene(s));
      else expect(caption).not.toBe(describeScene(s));
    }
  });

  it('inviting sets draw the anchor without its partner; splits never share a seed', () => {
    const set = sceneSet('heldout', 40, { inviting: 0.5 });
    for (const [i, s] of set.slice(0, 20).entries()) {
      const p = PLANTED_PAIRS[i % PLANTED_PAIRS.length];
      expect(invitedPairs(s)).toContainEqual(p);
    }
    const seeds = (split: 'pretrain' | 'train' | 'heldout') => new Set(Array.from({ length: 100_000 }, (_, i) => sceneSeed(split, i)));
    const pre = seeds('pretrain');
    const tr = seeds('train');
    for (const s of seeds('heldout')) expect(pre.has(s) || tr.has(s)).toBe(false);
  });

  it('pretraining questions cover caption, present and absent probes, colour and count', () => {
    const s = generateScene(sceneSeed('pretrain', 2));
    const qs = pretrainQuestions(s, new Rng(3));
    expect(qs.map((q) => q.type)).toEqual(['describe', 'exists', 'exists', 'colour', 'count']);
    expect(qs[1].truth).toBe(true);
    expect(qs[2].truth).toBe(false);
  });
});
