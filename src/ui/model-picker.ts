// Which model to fine-tune: the built-in tiny model (offline), SmolVLM-256M from the hub, any hub
// id or URL, or a model folder from disk. Shows download progress and then the model's summary.
import * as Comlink from 'comlink';
import { SMOLVLM_HUB_ID, type DropFile, type LoadProgress, type ModelChoice, type ModelSummary, type PovidWorkerApi } from '../worker/api';
import { clear, formatBytes, h, plural, uid } from './dom';
import { filesFromDataTransfer, filesFromInput } from './drop-zone';
import type { Toasts } from './toast';

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

type Kind = 'builtin' | 'smolvlm' | 'custom' | 'folder';

const PHASES: Record<LoadProgress['phase'], string> = {
  config: 'Reading the config',
  tokenizer: 'Loading the tokenizer',
  weights: 'Loading the weights',
  vision: 'Starting the vision encoder',
  upload: 'Uploading the decoder weights to the GPU',
  ready: 'Ready',
};

/** A custom entry: a URL to a model folder, or a hub id (owner/name). */
export function parseCustomModel(text: string): ModelChoice {
  const t = text.trim();
  if (/^https?:\/\//i.test(t)) {
    try {
      new URL(t);
    } catch {
      throw new Error(`"${t}" is not a valid URL. Enter a full address such as https://example.org/models/my-model/`);
    }
    return { kind: 'url', url: t };
  }
  if (HUB_ID.test(t)) return { kind: 'hub', id: t };
  throw new Error(`Enter a hub id such as ${SMOLVLM_HUB_ID} or a URL starting with https://`);
}

/** Folder uploads name files "folder/config.json"; the model wants paths relative to the folder. */
export function stripCommonRoot(files: DropFile[]): DropFile[] {
  const firsts = new Set(files.map((f) => (f.path.includes('/') ? f.path.split('/')[0] : '')));
  if (firsts.size !== 1 || firsts.has('')) return files;
  const root = [...firsts][0].length + 1;
  return files.map((f) => ({ path: f.path.slice(root), blob: f.blob }));
}

export class ModelPicker {
  readonly el: HTMLElement;
  private kind: Kind = 'builtin';
  private folder: DropFile[] = [];
  private readonly custom: HTMLInputElement;
  private readonly folderInfo: HTMLElement;
  private readonly loadButton: HTMLButtonElement;
  private readonly progress: HTMLProgressElement;
  private readonly progressText: HTMLElement;
  private readonly progressBox: HTMLElement;
  private readonly summary: HTMLElement;
  private loading = false;
  private locked = false;

  constructor(
    private readonly api: Pick<PovidWorkerApi, 'loadModel'>,
    private readonly toasts: Toasts,
    private readonly onLoaded: (s: ModelSummary) => void,
  ) {
    const name = uid('model-kind');
    const radio = (value: Kind, label: string, detail: string) => {
      const input = h('input', { testid: `model-${value}`, attrs: { type: 'radio', name, value, checked: value === this.kind } });
      input.addEventListener('change', () => {
        if (input.checked) this.select(value);
      });
      return h(
        'label',
        { class: 'choice' },
        input,
        h('span', { class: 'choice-text' }, h('strong', { text: label }), h('small', { text: detail })),
      );
    };

    this.custom = h('input', {
      testid: 'model-custom-input',
      attrs: { type: 'text', placeholder: 'owner/name or https://…', 'aria-label': 'Hub id or URL of a model', spellcheck: 'false' },
    });
    this.custom.addEventListener('focus', () => this.select('custom'));

    const folderInput = h('input', {
      testid: 'model-folder-input',
      attrs: { type: 'file', multiple: true, webkitdirectory: true, 'aria-label': 'Choose a model folder' },
    });
    folderInput.addEventListener('change', () => {
      this.setFolder(filesFromInput(folderInput));
      folderInput.value = '';
    });
    this.folderInfo = h('small', {
      class: 'muted',
      text: 'Choose or drop a folder with config.json, tokenizer.json, model.safetensors and onnx/vision_encoder*.onnx.',
    });
    const folderBox = h(
      'div',
      { class: 'folder-drop', testid: 'model-folder-drop' },
      h('label', { class: 'button secondary small' }, 'Choose folder…', folderInput),
      this.folderInfo,
    );
    folderBox.addEventListener('dragover', (e) => {
      e.preventDefault();
      folderBox.classList.add('is-over');
    });
    folderBox.addEventListener('dragleave', () => folderBox.classList.remove('is-over'));
    folderBox.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      folderBox.classList.remove('is-over');
      if (!e.dataTransfer) return;
      void filesFromDataTransfer(e.dataTransfer).then(
        (files) => this.setFolder(files),
        (err) => this.toasts.error(err, 'Could not read the dropped folder'),
      );
    });

    this.loadButton = h('button', { class: 'button', testid: 'model-load', text: 'Load model', attrs: { type: 'button' } });
    this.loadButton.addEventListener('click', () => void this.load());

    this.progress = h('progress', { testid: 'model-progress', attrs: { max: 1, value: 0, 'aria-label': 'Model loading progress' } });
    this.progressText = h('span', { class: 'muted', testid: 'model-progress-text' });
    this.progressBox = h('div', { class: 'progress-row' }, this.progress, this.progressText);
    this.progressBox.hidden = true;
    this.summary = h('div', { class: 'model-summary', testid: 'model-summary' });
    this.summary.hidden = true;

    this.el = h(
      'div',
      { class: 'model-picker', testid: 'model-picker', attrs: { 'data-state': 'idle' } },
      h(
        'fieldset',
        { class: 'choices' },
        h('legend', { class: 'sr-only', text: 'Model' }),
        radio(
          'builtin',
          'Built-in tiny model',
          'Served with the page, works offline: for trying the pipeline end to end. Its answers are noise.',
        ),
        radio(
          'smolvlm',
          'SmolVLM-256M-Instruct',
          `${SMOLVLM_HUB_ID} from the Hugging Face hub: several hundred MB, cached after the first download.`,
        ),
        h(
          'div',
          { class: 'choice-with-input' },
          radio('custom', 'Another model', 'A hub id or a URL of a model folder (same architecture).'),
          this.custom,
        ),
        h(
          'div',
          { class: 'choice-with-input' },
          radio('folder', 'A folder on this computer', 'Nothing is uploaded; the files are read in the browser.'),
          folderBox,
        ),
      ),
      h('div', { class: 'row' }, this.loadButton),
      this.progressBox,
      this.summary,
    );
  }

  /** No model switch while training runs. */
  setLocked(locked: boolean): void {
    this.locked = locked;
    this.loadButton.disabled = locked || this.loading;
    this.loadButton.title = locked ? 'Training is running' : '';
  }

  private select(kind: Kind): void {
    this.kind = kind;
    const input = this.el.querySelector<HTMLInputElement>(`input[type=radio][value="${kind}"]`);
    if (input) input.checked = true;
  }

  private setFolder(files: DropFile[]): void {
    this.folder = stripCommonRoot(files);
    this.select('folder');
    const total = this.folder.reduce((n, f) => n + f.blob.size, 0);
    this.folderInfo.textContent = this.folder.length
      ? `${plural(this.folder.length, 'file')}, ${formatBytes(total)}`
      : 'The folder is empty.';
  }

  private choice(): ModelChoice {
    switch (this.kind) {
      case 'builtin':
        return { kind: 'builtin' };
      case 'smolvlm':
        return { kind: 'hub', id: SMOLVLM_HUB_ID };
      case 'custom':
        return parseCustomModel(this.custom.value);
      case 'folder':
        if (!this.folder.length) throw new Error('Choose or drop a model folder first.');
        return { kind: 'files', files: this.folder };
    }
  }

  /** Loads a saved choice again (after a reload), showing it as the selected one. */
  restore(choice: ModelChoice): Promise<ModelSummary | undefined> {
    if (choice.kind === 'builtin') this.select('builtin');
    else if (choice.kind === 'hub' && choice.id === SMOLVLM_HUB_ID) this.select('smolvlm');
    else if (choice.kind === 'hub' || choice.kind === 'url') {
      this.custom.value = choice.kind === 'hub' ? choice.id : choice.url;
      this.select('custom');
    }
    return this.load(choice);
  }

  async load(given?: ModelChoice): Promise<ModelSummary | undefined> {
    if (this.loading || this.locked) return undefined;
    let choice: ModelChoice;
    try {
      choice = given ?? this.choice();
    } catch (e) {
      this.toasts.error(e, 'Model');
      return undefined;
    }
    this.loading = true;
    this.loadButton.disabled = true;
    this.el.dataset.state = 'loading';
    this.progressBox.hidden = false;
    this.progress.removeAttribute('value'); // indeterminate until the first report
    this.progressText.textContent = 'Starting…';
    const onProgress = (p: LoadProgress) => this.showProgress(p);
    try {
      const summary = await this.api.loadModel(choice, Comlink.proxy(onProgress));
      this.progress.max = 1;
      this.progress.value = 1;
      this.progressText.textContent = 'Ready';
      this.renderSummary(summary);
      this.el.dataset.state = 'ready';
      this.onLoaded(summary);
      return summary;
    } catch (e) {
      this.el.dataset.state = 'error';
      this.progressText.textContent = 'Failed';
      this.toasts.error(e, 'The model did not load');
      return undefined;
    } finally {
      this.loading = false;
      this.loadButton.disabled = this.locked;
    }
  }

  private showProgress(p: LoadProgress): void {
    const phase = PHASES[p.phase] ?? p.phase;
    const cache = p.fromCache ? ', from cache' : '';
    this.el.dataset.phase = p.phase;
    if (p.message) {
      this.progress.removeAttribute('value');
      this.progressText.textContent = `${phase}: ${p.message}`;
      return;
    }
    if (p.totalAll !== undefined && p.totalAll > 0 && p.loadedAll !== undefined) {
      // Files arrive in parallel: one bar over all of them, the file that reported last named.
      this.progress.max = p.totalAll;
      this.progress.value = Math.min(p.loadedAll, p.totalAll);
      const pct = Math.round((100 * p.loadedAll) / p.totalAll);
      this.progressText.textContent = `Loading the model files: ${formatBytes(p.loadedAll)} of ${formatBytes(p.totalAll)} (${pct}%)${p.file ? ` · ${p.file}` : ''}${cache}`;
      this.progressText.dataset.loaded = String(p.loadedAll);
      this.progressText.dataset.total = String(p.totalAll);
    } else if (p.total > 0) {
      this.progress.max = p.total;
      this.progress.value = Math.min(p.loaded, p.total);
      const pct = Math.round((100 * p.loaded) / p.total);
      this.progressText.textContent = `${phase}${p.file ? ` ${p.file}` : ''}: ${formatBytes(p.loaded)} of ${formatBytes(p.total)} (${pct}%)${cache}`;
    } else {
      // No byte count in this phase (parsing, starting the encoder, the GPU upload): say what and how big.
      this.progress.removeAttribute('value');
      this.progressText.textContent = `${phase}${p.file ? ` ${p.file}` : ''}${p.bytes ? ` (${formatBytes(p.bytes)})` : ''}${p.loaded ? `: ${formatBytes(p.loaded)}` : ''}${cache}…`;
    }
  }

  private renderSummary(s: ModelSummary): void {
    clear(this.summary);
    const rows: [string, string][] = [
      ['Model', s.name],
      ['Architecture', s.architecture],
      ['Decoder', `${s.layers} layers, hidden ${s.hidden}`],
      ['Vocabulary', s.vocab.toLocaleString('en')],
      ['Image tokens', String(s.imageSeqLen)],
      ['Parameters', s.parameters.toLocaleString('en')],
      ['Vision encoder', `${s.visionFile} (${s.visionVariant}) on ${s.visionBackend === 'webgpu' ? 'WebGPU' : 'WebAssembly (CPU)'}`],
      ['GPU memory', formatBytes(s.gpuBytes)],
    ];
    this.summary.append(h('dl', {}, ...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])));
    this.summary.hidden = false;
  }
}
