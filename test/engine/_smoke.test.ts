import { it } from 'vitest';
import { writeSync } from 'node:fs';
import { Engine } from '../../src/engine/decoder';
import { randomDecoderWeights } from '../../src/engine/params';
import { TINY, IMAGE_TOKEN, makeExamples, engineGpu } from '/tmp/eng/fx';
const log = (...a: unknown[]) => writeSync(2, a.map(String).join(' ') + '\n');

it('smoke', async () => {
const ctx = await engineGpu();
log('ctx');
const w = randomDecoderWeights(TINY, 1);
log('weights');
const e = await Engine.create(ctx, TINY, w, { maxBatch: 4, maxSeq: 40, lora: { r: 4, alpha: 8 }, weightDtype: 'f32', imageTokenId: IMAGE_TOKEN });
log(e.describe());
const ex = makeExamples(9, TINY, [{ prompt: 20, image: 6, chosen: 12, rejected: 16 }, { prompt: 17, image: 6, chosen: 9, rejected: 7 }]);
let t = performance.now();
const f = await e.forward([ex[0].chosen, ex[1].rejected], { lora: true, lastLogits: true });
log('forward', f.logprobSums, (performance.now() - t).toFixed(0), 'ms');
for (let i = 0; i < 3; i++) {
  t = performance.now(); const d0 = ctx.dispatchCount;
  const r = await e.povidStep(ex, { loss: { beta: 0.1, mode: 'povid', wText: 0.5, wNoise: 0.5 }, optimizer: { lr: 1e-2 }, timing: true });
  log('step', ctx.dispatchCount - d0, r.loss, r.gradNorm, JSON.stringify(r.timings), (performance.now() - t).toFixed(0), 'ms');
}
t = performance.now();
const g = await e.generate({ tokens: ex[0].chosen.tokens.slice(0, 20), image: ex[0].chosen.image }, { maxNewTokens: 5 });
log('gen', JSON.stringify(g), (performance.now() - t).toFixed(0), 'ms');
log(JSON.stringify(e.memory()));
e.destroy();
});
