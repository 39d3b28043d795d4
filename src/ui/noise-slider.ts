// The noisy copy of one record's image and a slider for the diffusion step t (0..999). The Worker
// makes the image; the slider is debounced and stale answers are dropped, so dragging stays smooth.
import type { PovidWorkerApi } from '../worker/api';
import { debounce, h } from './dom';

export const NOISE_STEPS = 1000;
export const DEFAULT_NOISE_STEP = 500;

/** sqrt(abar_t) and sqrt(1 - abar_t) of the POVID schedule, for the label only (the Worker has its own). */
const SCHEDULE = (() => {
  const signal = new Float64Array(NOISE_STEPS);
  let abar = 1;
  for (let t = 0; t < NOISE_STEPS; t++) {
    const x = -6 + (12 * t) / (NOISE_STEPS - 1);
    const beta = (1 / (1 + Math.exp(-x))) * (5e-3 - 1e-5) + 1e-5;
    abar *= 1 - beta;
    signal[t] = abar;
  }
  return signal;
})();

export function noiseLabel(t: number): string {
  const abar = SCHEDULE[Math.max(0, Math.min(NOISE_STEPS - 1, t))];
  return `t = ${t} · image ×${Math.sqrt(abar).toFixed(2)}, noise ×${Math.sqrt(1 - abar).toFixed(2)}`;
}

export class NoiseSlider {
  readonly el: HTMLElement;
  readonly img: HTMLImageElement;
  readonly input: HTMLInputElement;
  private readonly label: HTMLElement;
  private url: string | null = null;
  private seq = 0;
  private loaded = false;
  private readonly request = debounce((t: number) => void this.fetch(t), 200);

  constructor(
    private readonly api: Pick<PovidWorkerApi, 'noisyImage'>,
    private readonly recordId: string,
    imageName: string,
    private readonly seed: number,
    private readonly onError: (e: unknown) => void,
    t = DEFAULT_NOISE_STEP,
  ) {
    this.img = h('img', {
      class: 'thumb noisy',
      testid: 'noisy-image',
      attrs: { alt: `Noisy copy of ${imageName}`, width: 96, height: 96 },
    });
    this.input = h('input', {
      testid: 'noise-slider',
      attrs: { type: 'range', min: 0, max: NOISE_STEPS - 1, step: 1, value: t, 'aria-label': `Noise step for ${imageName}` },
    });
    this.label = h('small', { class: 'muted noise-label', testid: 'noise-label', text: noiseLabel(t) });
    this.input.title = 'A preview of the noise at other steps; training uses the Noise step setting (step 3).';
    this.input.addEventListener('input', () => {
      const v = this.value;
      this.label.textContent = noiseLabel(v);
      this.el.dataset.state = 'pending';
      this.request(v);
    });
    const note = h('small', {
      class: 'muted noise-note',
      testid: 'noise-preview-note',
      text: 'Preview only: training uses the Noise step setting.',
    });
    this.el = h('div', { class: 'noise-slider' }, h('div', { class: 'img-frame' }, this.img), this.input, this.label, note);
  }

  get value(): number {
    return Number(this.input.value);
  }

  /** Fetch the first image (called when the row scrolls into view). */
  load(): void {
    if (this.loaded) return;
    this.loaded = true;
    void this.fetch(this.value);
  }

  private async fetch(t: number): Promise<void> {
    const mine = ++this.seq;
    this.el.dataset.state = 'loading';
    try {
      const blob = await this.api.noisyImage(this.recordId, t, this.seed);
      if (mine !== this.seq) return; // the slider moved on meanwhile
      if (this.url) URL.revokeObjectURL(this.url);
      this.url = URL.createObjectURL(blob);
      this.img.src = this.url;
      this.img.dataset.t = String(t);
      this.el.dataset.state = 'ready';
    } catch (e) {
      if (mine !== this.seq) return;
      this.el.dataset.state = 'error';
      this.onError(e);
    }
  }

  dispose(): void {
    this.request.cancel();
    this.seq++;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
  }
}
