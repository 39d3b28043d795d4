// What leaves the browser, on the user's request only: the LoRA adapter in PEFT's format (one zip,
// or the two files) and the preference dataset for training bigger models elsewhere. Also loads
// a previously downloaded adapter back in.
import { adapterLoadHint } from '../export/peft';
import type { DropFile, PovidWorkerApi } from '../worker/api';
import { formatBytes, h, saveBytes } from './dom';
import { filesFromInput } from './drop-zone';
import type { Toasts } from './toast';

type Api = Pick<PovidWorkerApi, 'exportAdapter' | 'exportDataset' | 'loadAdapter'>;

export const ADAPTER_ZIP = 'adapter.zip';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const DATASET_ZIP = 'povid-dataset.zip';

export class Downloads {
  readonly el: HTMLElement;
  private readonly adapterButtons: HTMLButtonElement[];
  private readonly datasetButton: HTMLButtonElement;
  private readonly loadInput: HTMLInputElement;
  /** Where the adapter can be loaded: depends on the model it was trained on. */
  private readonly baseNote: HTMLElement;

  constructor(
    private readonly api: Api,
    private readonly toasts: Toasts,
    private readonly onAdapterLoaded: () => void,
  ) {
    const button = (testid: string, text: string, cls = 'button') => h('button', { class: cls, testid, text, attrs: { type: 'button' } });
    const zip = button('download-adapter-zip', `Adapter (${ADAPTER_ZIP})`);
    const config = button('download-adapter-config', ADAPTER_CONFIG, 'button secondary');
    const weights = button('download-adapter-weights', ADAPTER_WEIGHTS, 'button secondary');
    this.adapterButtons = [zip, config, weights];
    zip.addEventListener('click', () => void this.adapter('zip'));
    config.addEventListener('click', () => void this.adapter(ADAPTER_CONFIG));
    weights.addEventListener('click', () => void this.adapter(ADAPTER_WEIGHTS));

    this.datasetButton = button('download-dataset', `Dataset (${DATASET_ZIP})`, 'button secondary');
    this.datasetButton.addEventListener('click', () => void this.dataset());

    this.loadInput = h('input', {
      testid: 'adapter-input',
      attrs: { type: 'file', multiple: true, accept: '.json,.safetensors', 'aria-label': 'Load an adapter' },
    });
    this.loadInput.addEventListener('change', () => {
      const files: DropFile[] = filesFromInput(this.loadInput);
      this.loadInput.value = '';
      if (files.length) void this.loadAdapter(files);
    });

    this.baseNote = h('p', { class: 'muted', testid: 'adapter-base-model' });

    this.el = h(
      'div',
      { class: 'downloads', testid: 'downloads' },
      h(
        'div',
        { class: 'download-group' },
        h('h3', { text: 'LoRA adapter' }),
        h('p', { class: 'muted', text: 'PEFT format: load it with PeftModel.from_pretrained(model, folder) in Python.' }),
        h('div', { class: 'row' }, zip, config, weights),
        this.baseNote,
      ),
      h(
        'div',
        { class: 'download-group' },
        h('h3', { text: 'Dataset' }),
        h('p', {
          class: 'muted',
          text: 'Images plus preference records (TRL DPO and POVID JSON), to train a larger model on a GPU machine.',
        }),
        h('div', { class: 'row' }, this.datasetButton),
      ),
      h(
        'div',
        { class: 'download-group' },
        h('h3', { text: 'Load an adapter' }),
        h('p', { class: 'muted', text: 'Choose adapter_config.json and adapter_model.safetensors together; then compare it above.' }),
        h('label', { class: 'button secondary' }, 'Choose adapter files…', this.loadInput),
      ),
    );
    this.setState({ model: false, records: 0 });
  }

  setState(s: { model: boolean; records: number; baseModel?: string }): void {
    this.baseNote.textContent = s.baseModel ? adapterLoadHint(s.baseModel) : '';
    for (const b of this.adapterButtons) {
      b.disabled = !s.model;
      b.title = s.model ? '' : 'Load a model first';
    }
    this.loadInput.disabled = !s.model;
    this.datasetButton.disabled = s.records === 0;
    this.datasetButton.title = s.records ? '' : 'Add records first';
  }

  private async adapter(which: 'zip' | typeof ADAPTER_CONFIG | typeof ADAPTER_WEIGHTS): Promise<void> {
    await this.toasts.guard('Adapter export failed', async () => {
      const out = await this.api.exportAdapter();
      if (which === 'zip') return this.save(ADAPTER_ZIP, out.zip, 'application/zip');
      const file = out.files.find((f) => f.name === which);
      if (!file) throw new Error(`The exported adapter has no ${which} (it has ${out.files.map((f) => f.name).join(', ') || 'no files'}).`);
      this.save(which, file.bytes, which.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    });
  }

  private async dataset(): Promise<void> {
    await this.toasts.guard('Dataset export failed', async () => this.save(DATASET_ZIP, await this.api.exportDataset(), 'application/zip'));
  }

  /** Hands the file to the browser and says what was saved, with its size. */
  private save(name: string, bytes: Uint8Array, type: string): void {
    saveBytes(name, bytes, type);
    this.toasts.show(
      `${name}, ${formatBytes(bytes.byteLength)} (${bytes.byteLength.toLocaleString('en-US')} bytes), handed to the browser's downloads.`,
      'success',
      'Download ready',
    );
  }

  private async loadAdapter(files: DropFile[]): Promise<void> {
    const ok = await this.toasts.guard('The adapter did not load', async () => {
      await this.api.loadAdapter(files);
      return true;
    });
    if (ok) {
      this.toasts.show(`Adapter loaded from ${files.map((f) => f.path).join(', ')}.`, 'success');
      this.onAdapterLoaded();
    }
  }
}
