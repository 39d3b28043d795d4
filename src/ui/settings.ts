// Training settings: the defaults of DEFAULT_TRAIN_CONFIG, one line of explanation each, checked
// before training starts. Kept in localStorage so a reload (and a resumed checkpoint) keeps them.
import {
  DEFAULT_TRAIN_CONFIG,
  LORA_PROJECTIONS,
  type ImageDetail,
  type LossMode,
  type ModelSummary,
  type TrainConfig,
} from '../worker/api';
import { h, uid } from './dom';

export const STORAGE_KEY = 'povid.settings.v1';

type NumberKey = { [K in keyof TrainConfig]: TrainConfig[K] extends number ? K : never }[keyof TrainConfig];

interface NumberField {
  key: NumberKey;
  label: string;
  help: string;
  min: number;
  max: number;
  int?: boolean;
  step?: string;
  advanced?: boolean;
}

const NUMBER_FIELDS: NumberField[] = [
  {
    key: 'loraRank',
    label: 'LoRA rank',
    help: 'Size of the low-rank update: higher can learn more, and costs more memory and time.',
    min: 1,
    max: 512,
    int: true,
  },
  {
    key: 'loraAlpha',
    label: 'LoRA alpha',
    help: 'The update is scaled by alpha / rank; twice the rank is the usual choice.',
    min: 0.001,
    max: 4096,
    step: 'any',
  },
  {
    key: 'beta',
    label: 'Beta',
    help: 'DPO temperature: higher keeps the model closer to the original (0.1 in the paper).',
    min: 0.0001,
    max: 10,
    step: 'any',
  },
  {
    key: 'learningRate',
    label: 'Learning rate',
    help: 'AdamW step size; 1e-5 to 5e-5 suits a 256M model, the paper used 1e-7 on 7B.',
    min: 1e-9,
    max: 1,
    step: 'any',
  },
  { key: 'steps', label: 'Steps', help: 'Optimizer steps to run; 0 means “use the epochs below”.', min: 0, max: 1_000_000, int: true },
  { key: 'epochs', label: 'Epochs', help: 'Passes over the training records, used when steps is 0.', min: 1, max: 1000, int: true },
  {
    key: 'noiseStep',
    label: 'Noise step',
    help: 'Diffusion step t (0–999) for the noisy image that triggers hallucinations; the paper used 500. Training uses this value; the sliders in the data table only preview other steps.',
    min: 0,
    max: 999,
    int: true,
  },
  {
    key: 'seed',
    label: 'Seed',
    help: 'Same seed, same run: noise, injected edits, record order and adapter initialisation.',
    min: 0,
    max: 2 ** 32 - 1,
    int: true,
  },
  {
    key: 'heldoutFraction',
    label: 'Held-out fraction',
    help: 'Share of records kept out of training, to measure the reward accuracy on unseen examples.',
    min: 0,
    max: 0.9,
    step: 'any',
  },
  {
    key: 'warmupRatio',
    label: 'Warm-up',
    help: 'Share of the steps over which the learning rate ramps up from zero (then cosine decay).',
    min: 0,
    max: 1,
    step: 'any',
    advanced: true,
  },
  {
    key: 'weightDecay',
    label: 'Weight decay',
    help: 'AdamW decoupled weight decay on the adapter (0 in the paper).',
    min: 0,
    max: 1,
    step: 'any',
    advanced: true,
  },
  {
    key: 'maxGradNorm',
    label: 'Max gradient norm',
    help: 'Gradients are clipped to this global norm; 0 turns clipping off.',
    min: 0,
    max: 1000,
    step: 'any',
    advanced: true,
  },
  {
    key: 'gradAccumulation',
    label: 'Gradient accumulation',
    help: 'Examples summed before each optimizer step (an effective batch size).',
    min: 1,
    max: 1024,
    int: true,
    advanced: true,
  },
  {
    key: 'stage1Fraction',
    label: 'Stage 1 share',
    help: 'Two-stage mode: share of the steps that use text-only DPO before POVID.',
    min: 0,
    max: 1,
    step: 'any',
    advanced: true,
  },
  {
    key: 'wText',
    label: 'Text weight',
    help: 'Weight of the injected-hallucination term in the combined loss.',
    min: 0,
    max: 10,
    step: 'any',
    advanced: true,
  },
  {
    key: 'wNoise',
    label: 'Noise weight',
    help: 'Weight of the noise-triggered term in the combined loss.',
    min: 0,
    max: 10,
    step: 'any',
    advanced: true,
  },
  {
    key: 'sftWeight',
    label: 'SFT weight',
    help: "Weight of a likelihood term on the preferred answers (TRL's 'sft' loss, formerly rpo_alpha); keeps them likely while DPO pushes the pair apart. 0 = DPO alone, as released.",
    min: 0,
    max: 10,
    step: 'any',
    advanced: true,
  },
  {
    key: 'evalEvery',
    label: 'Evaluate every',
    help: 'Steps between evaluations on the held-out records (0 = never).',
    min: 0,
    max: 1_000_000,
    int: true,
    advanced: true,
  },
  {
    key: 'checkpointEvery',
    label: 'Checkpoint every',
    help: 'Steps between checkpoints saved in the browser, to resume after a reload (0 = never).',
    min: 0,
    max: 1_000_000,
    int: true,
    advanced: true,
  },
];

const LOSS_MODES: { value: LossMode; label: string; help: string }[] = [
  {
    value: 'povid',
    label: 'POVID (text + noise)',
    help: 'Average of DPO against the injected answer and DPO against the noise-triggered one (the released code).',
  },
  { value: 'dpo-text', label: 'DPO, text only', help: 'Plain DPO against the injected answer; the noisy image is not used.' },
  { value: 'two-stage', label: 'Two-stage', help: 'Text-only DPO for the first part of the steps, then POVID, as in the release.' },
  {
    value: 'weighted',
    label: 'Weighted margin',
    help: 'One sigmoid over the weighted margin Δ(chosen) − (w_text·Δ(text) + w_noise·Δ(noise)), as the paper writes it.',
  },
];

const NOISE_REFERENCES: { value: TrainConfig['noiseReference']; label: string }[] = [
  { value: 'own-argmax', label: "Reference's own noisy answer (release)" },
  { value: 'policy-argmax', label: "Policy's noisy answer" },
];

const IMAGE_DETAILS: { value: ImageDetail; label: string }[] = [
  { value: 'single', label: 'one 512 view (fast)' },
  { value: 'tiles', label: 'full tiles (as the model was trained)' },
];

/** The cost line under "Image detail": image tokens per image and how that compares. */
export function imageDetailCost(detail: ImageDetail, tokens?: ModelSummary['imageTokens']): string {
  if (!tokens) {
    return detail === 'single'
      ? 'Each image is squeezed to one 512 × 512 view (64 image tokens for SmolVLM).'
      : "Each image is cut into 512 × 512 tiles plus a global view, as SmolVLM's processor does (up to 17 views of 64 tokens).";
  }
  if (detail === 'single') return `Each image is squeezed to one 512 × 512 view: ${tokens.single} prompt tokens per image.`;
  const times = (tokens.tilesMax / tokens.single).toFixed(0);
  return (
    `Each image is cut into 512 × 512 tiles plus a global view: up to ${tokens.tilesMaxViews} views, ${tokens.tilesMax} prompt tokens per image ` +
    `(${times}× one view), so each step and answer costs about that much more time and memory.`
  );
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Checks a config field by field; returns the messages (empty when valid). */
export function validateConfig(c: TrainConfig): string[] {
  const errors: string[] = [];
  for (const f of NUMBER_FIELDS) {
    const v = c[f.key];
    if (typeof v !== 'number' || !Number.isFinite(v)) errors.push(`${f.label} must be a number.`);
    else if (f.int && !Number.isInteger(v)) errors.push(`${f.label} must be a whole number.`);
    else if (v < f.min || v > f.max) errors.push(`${f.label} must be between ${f.min} and ${f.max}.`);
  }
  if (!Array.isArray(c.loraTargets) || c.loraTargets.length === 0) errors.push('Pick at least one LoRA target.');
  else if (c.loraTargets.some((t) => !LORA_PROJECTIONS.includes(t))) errors.push('Unknown LoRA target.');
  if (!LOSS_MODES.some((m) => m.value === c.lossMode)) errors.push('Unknown loss mode.');
  if (!NOISE_REFERENCES.some((m) => m.value === c.noiseReference)) errors.push('Unknown noise-term reference.');
  if (!IMAGE_DETAILS.some((d) => d.value === c.imageDetail)) errors.push('Unknown image detail.');
  return errors;
}

function loadStored(): TrainConfig {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (!raw) return { ...DEFAULT_TRAIN_CONFIG };
    const merged = { ...DEFAULT_TRAIN_CONFIG, ...(JSON.parse(raw) as Partial<TrainConfig>) };
    return validateConfig(merged).length ? { ...DEFAULT_TRAIN_CONFIG } : merged;
  } catch {
    return { ...DEFAULT_TRAIN_CONFIG };
  }
}

export class Settings {
  readonly el: HTMLElement;
  private readonly fieldset: HTMLFieldSetElement;
  private readonly numbers = new Map<NumberKey, HTMLInputElement>();
  private readonly targets = new Map<string, HTMLInputElement>();
  private readonly lossMode: HTMLSelectElement;
  private readonly noiseReference: HTMLSelectElement;
  private readonly imageDetail: HTMLSelectElement;
  private readonly imageDetailHelp: Element;
  private imageTokens?: ModelSummary['imageTokens'];
  private readonly errors: HTMLElement;

  constructor(private readonly onChange?: (c: TrainConfig) => void) {
    const row = (label: string, control: HTMLElement, help: string) => {
      const id = uid('setting');
      const helpId = `${id}-help`;
      control.id = id;
      control.setAttribute('aria-describedby', helpId);
      return h(
        'div',
        { class: 'setting' },
        h('label', { text: label, attrs: { for: id } }),
        control,
        h('small', { class: 'help', text: help, attrs: { id: helpId } }),
      );
    };

    const basic: HTMLElement[] = [];
    const advanced: HTMLElement[] = [];
    for (const f of NUMBER_FIELDS) {
      const input = h('input', {
        testid: `setting-${f.key}`,
        attrs: { type: 'number', min: f.min, max: f.max, step: f.step ?? (f.int ? 1 : 'any'), inputmode: f.int ? 'numeric' : 'decimal' },
      });
      this.numbers.set(f.key, input);
      (f.advanced ? advanced : basic).push(row(f.label, input, f.help));
    }

    this.lossMode = h(
      'select',
      { testid: 'setting-lossMode' },
      ...LOSS_MODES.map((m) => h('option', { text: m.label, attrs: { value: m.value } })),
    );
    const lossRow = row('Loss', this.lossMode, '');
    const lossHelp = lossRow.querySelector('.help')!;
    const explainLoss = () => {
      lossHelp.textContent = LOSS_MODES.find((m) => m.value === this.lossMode.value)?.help ?? '';
    };
    this.lossMode.addEventListener('change', explainLoss);

    this.noiseReference = h(
      'select',
      { testid: 'setting-noiseReference' },
      ...NOISE_REFERENCES.map((m) => h('option', { text: m.label, attrs: { value: m.value } })),
    );
    advanced.push(
      row(
        'Noise term reference',
        this.noiseReference,
        'Which noisy-image answer the frozen model scores in the noise term: its own argmax (as the released code does) or the one the adapted model gave.',
      ),
    );

    this.imageDetail = h(
      'select',
      { testid: 'setting-imageDetail' },
      ...IMAGE_DETAILS.map((d) => h('option', { text: d.label, attrs: { value: d.value } })),
    );
    const detailRow = row('Image detail', this.imageDetail, '');
    this.imageDetailHelp = detailRow.querySelector('.help')!;
    this.imageDetail.addEventListener('change', () => this.explainImageDetail());

    const boxes = h('div', { class: 'checks', attrs: { role: 'group', 'aria-label': 'LoRA targets' } });
    for (const t of LORA_PROJECTIONS) {
      const cb = h('input', { testid: `setting-target-${t}`, attrs: { type: 'checkbox', value: t } });
      this.targets.set(t, cb);
      boxes.append(h('label', { class: 'check' }, cb, ` ${t}`));
    }
    const targetsRow = h(
      'div',
      { class: 'setting wide' },
      h('span', { class: 'label', text: 'LoRA targets' }),
      boxes,
      h('small', {
        class: 'help',
        text: 'Decoder projections that get an adapter: attention (q, k, v, o) and MLP (gate, up, down). Never the vision tower.',
      }),
    );

    this.errors = h('div', { class: 'settings-errors', testid: 'settings-errors', attrs: { role: 'alert' } });
    this.errors.hidden = true;
    const reset = h('button', {
      class: 'button link small',
      testid: 'settings-reset',
      text: 'Reset to defaults',
      attrs: { type: 'button' },
    });
    reset.addEventListener('click', () => {
      this.set({ ...DEFAULT_TRAIN_CONFIG });
      this.changed();
    });

    this.fieldset = h(
      'fieldset',
      { class: 'settings-grid' },
      h('legend', { class: 'sr-only', text: 'Training settings' }),
      ...basic.slice(0, 2),
      targetsRow,
      lossRow,
      detailRow,
      ...basic.slice(2),
      h('details', { class: 'advanced wide' }, h('summary', { text: 'More settings' }), h('div', { class: 'settings-grid' }, ...advanced)),
    );
    this.fieldset.addEventListener('change', () => this.changed());
    this.el = h('form', { class: 'settings', testid: 'settings', attrs: { novalidate: true } }, this.fieldset, this.errors, reset);
    this.el.addEventListener('submit', (e) => e.preventDefault());
    this.set(loadStored());
    explainLoss();
  }

  set(c: TrainConfig): void {
    for (const [k, input] of this.numbers) input.value = String(c[k]);
    for (const [t, cb] of this.targets) cb.checked = c.loraTargets.includes(t);
    this.lossMode.value = c.lossMode;
    this.lossMode.dispatchEvent(new Event('change'));
    this.noiseReference.value = c.noiseReference;
    this.imageDetail.value = c.imageDetail;
    this.explainImageDetail();
  }

  /** The loaded model's image token counts, for the cost line. */
  setImageTokens(tokens: ModelSummary['imageTokens'] | undefined): void {
    this.imageTokens = tokens;
    this.explainImageDetail();
  }

  private explainImageDetail(): void {
    this.imageDetailHelp.textContent = imageDetailCost(this.imageDetail.value as ImageDetail, this.imageTokens);
  }

  /** The current values, unchecked (NaN where a box does not hold a number). */
  read(): TrainConfig {
    const c: TrainConfig = {
      ...DEFAULT_TRAIN_CONFIG,
      loraTargets: LORA_PROJECTIONS.filter((t) => this.targets.get(t)?.checked),
      lossMode: this.lossMode.value as LossMode,
      noiseReference: this.noiseReference.value as TrainConfig['noiseReference'],
      imageDetail: this.imageDetail.value as ImageDetail,
    };
    for (const [k, input] of this.numbers) c[k] = input.value.trim() === '' ? NaN : Number(input.value);
    return c;
  }

  /** The config to train with; throws SettingsError naming each bad field. */
  config(): TrainConfig {
    const c = this.read();
    const errors = validateConfig(c);
    this.showErrors(errors);
    if (errors.length) throw new SettingsError(`Fix the settings first: ${errors.join(' ')}`);
    return c;
  }

  setDisabled(disabled: boolean): void {
    this.fieldset.disabled = disabled;
  }

  private changed(): void {
    const c = this.read();
    const errors = validateConfig(c);
    this.showErrors(errors);
    for (const f of NUMBER_FIELDS) {
      const v = c[f.key];
      const bad = !Number.isFinite(v) || (f.int && !Number.isInteger(v)) || v < f.min || v > f.max;
      this.numbers.get(f.key)?.setAttribute('aria-invalid', String(bad));
    }
    if (errors.length) return;
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(c));
    } catch {
      // Storage may be off (private mode); settings then last for this page only.
    }
    this.onChange?.(c);
  }

  private showErrors(errors: string[]): void {
    this.errors.hidden = errors.length === 0;
    this.errors.textContent = errors.join(' ');
  }
}
