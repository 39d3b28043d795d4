import { it } from 'vitest';
import { acquireDevice } from '../../src/gpu';
const V = process.env.DBG ?? '0';
const gc = () => (globalThis as any).gc();
it('x', async () => {
  const acq = await acquireDevice();
  const device = acq.device;
  if (V.includes('l')) device.lost.then(() => {});
  if (V.includes('e')) device.addEventListener('uncapturederror', () => {});
  gc();
  await new Promise((r) => setTimeout(r, 50));
  const b = device.createBuffer({ size: 64, usage: 0x0001 | 0x0008 });
  await b.mapAsync(1);
  console.log('ok');
  device.destroy();
});
