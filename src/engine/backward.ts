// Decoder backward pass (mirror of forward.ts, llm.c style): from d(log-prob per answer row)
// down through the final norm and every layer. The base weights are frozen, so only dX flows
// through them; LoRA gradients accumulate into the adapter's flat gradient buffer.
// The residual gradient lives in one buffer (grads.dres) and is updated in place: the residual
// adds pass it through, the norms' backward adds their contribution (accumulate).
import type { GpuContext } from '../gpu';
import type { DecoderConfig } from './config';
import { attentionBackward } from './kernels/attention';
import { scatterAddRows } from './kernels/gather';
import { linearBackwardInput } from './kernels/linear';
import { loraBackward } from './kernels/lora';
import { rmsnormBackward } from './kernels/rmsnorm';
import { ropeBackward } from './kernels/rope';
import { swigluBackward } from './kernels/swiglu';
import type { LayerBuffers } from './forward';
import { targetShape, type LoraTarget } from './checkpoint';
import type { Activations } from './layout';
import type { LoraAdapter } from './lora';
import type { DecoderParams } from './params';

type Grads = NonNullable<Activations['grads']>;

/**
 * dinp (+)= dout W (frozen base) and, for an adapted target, the LoRA part: dA, dB accumulate,
 * dinp += scale (dout B) A. `needInput` false skips the base dX (nothing below needs it).
 */
function adaptedLinearBackward(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  lora: LoraAdapter,
  l: number,
  target: LoraTarget,
  dinp: GPUBuffer,
  dout: GPUBuffer,
  inp: GPUBuffer,
  xa: GPUBuffer | undefined,
  dxa: GPUBuffer,
  N: number,
  splitK: GPUBuffer,
  accumulate: boolean,
  needInput = true,
): void {
  const { IN, OUT } = targetShape(cfg, target);
  if (needInput) linearBackwardInput(ctx, dinp, dout, params.layers[l].linear[target], N, IN, OUT, { accumulate, splitK });
  const ab = lora.bindings(l, target);
  if (ab && xa) loraBackward(ctx, dinp, ab.dA, ab.dB, dxa, dout, inp, xa, ab.A, ab.B, N, IN, OUT, lora.r, lora.scale, splitK);
}

/**
 * One layer backward. On entry g.dres = d(layer output); on exit d(layer input) (unless
 * `needInput` is false, for layer 0 whose input gradient nobody uses).
 */
export function layerBackward(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  lora: LoraAdapter,
  l: number,
  a: LayerBuffers,
  x: GPUBuffer,
  g: Grads,
  positions: GPUBuffer,
  keyMask: GPUBuffer,
  B: number,
  T: number,
  splitK: GPUBuffer,
  needInput = true,
): void {
  const N = B * T;
  const C = cfg.hiddenSize;
  const FF = cfg.intermediateSize;
  const { numHeads: NH, numKvHeads: NKV, headDim: HD, ropeTheta: theta } = cfg;
  const w = params.layers[l];
  const lin = (t: LoraTarget, dinp: GPUBuffer, dout: GPUBuffer, inp: GPUBuffer, accumulate: boolean, need = true) =>
    adaptedLinearBackward(ctx, cfg, params, lora, l, t, dinp, dout, inp, a.xa[t], g.dxa, N, splitK, accumulate, need);
  // MLP block: out = h + down(silu(gate) * up)
  lin('down', g.dsw, g.dres, a.sw, false);
  swigluBackward(ctx, g.dgate, g.dup, g.dsw, a.gate, a.up, N * FF);
  lin('gate', g.dln, g.dgate, a.ln2, false);
  lin('up', g.dln, g.dup, a.ln2, true);
  rmsnormBackward(ctx, g.dres, g.dln, a.h, w.postNorm, a.rstd2, N, C, { accumulate: true }); // dres = dh
  // attention block: h = x + o(att)
  lin('o', g.datt, g.dres, a.att, false);
  attentionBackward(ctx, g.dq, g.dk, g.dv, g.datt, a.q, a.k, a.v, a.att, a.lse, keyMask, B, T, NH, NKV, HD, g.attentionStats);
  ropeBackward(ctx, g.dq, g.dq, positions, N, NH, HD, theta); // in place: d(q before RoPE)
  ropeBackward(ctx, g.dk, g.dk, positions, N, NKV, HD, theta);
  if (!needInput) {
    // Only the LoRA gradients of q, k, v are wanted; loraBackward still adds its dX into dln.
    lin('q', g.dln, g.dq, a.ln1, false, false);
    lin('k', g.dln, g.dk, a.ln1, true, false);
    lin('v', g.dln, g.dv, a.ln1, true, false);
    return;
  }
  lin('q', g.dln, g.dq, a.ln1, false);
  lin('k', g.dln, g.dk, a.ln1, true);
  lin('v', g.dln, g.dv, a.ln1, true);
  rmsnormBackward(ctx, g.dres, g.dln, x, w.inputNorm, a.rstd1, N, C, { accumulate: true }); // dres = dx
}

/**
 * From d hN (grads.dhN, [M, C]) to the LoRA gradients: final norm backward, scatter to the
 * answer rows, then every layer in reverse.
 */
export function decoderBackward(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  acts: Activations,
  lora: LoraAdapter,
  B: number,
  T: number,
  M: number,
): void {
  const g = acts.grads;
  if (!g) throw new Error('decoderBackward: the engine was created without training buffers (training: false)');
  const C = cfg.hiddenSize;
  const N = B * T;
  const { head, inputs } = acts;
  rmsnormBackward(ctx, g.dG, g.dhN, head.hG, params.norm, head.rstdF, M, C);
  ctx.clear(g.dres, 0, N * C * 4);
  scatterAddRows(ctx, g.dres, g.dG, inputs.rows, M, C);
  for (let l = cfg.numLayers - 1; l >= 0; l--)
    layerBackward(
      ctx,
      cfg,
      params,
      lora,
      l,
      acts.layers[l],
      acts.res[l],
      g,
      inputs.positions,
      inputs.keyMask,
      B,
      T,
      acts.scratch.splitK,
      l > 0,
    );
}
