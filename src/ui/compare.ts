// Side by side: the base model (adapter off) and the fine-tuned one (adapter on) answering the same
// question about a record's image or a new image, streamed token by token.
import * as Comlink from 'comlink';
import type { GenerateRequest, PovidWorkerApi, RecordView } from '../worker/api';
import { clear, h } from './dom';
import type { Toasts } from './toast';

type Api = Pick<PovidWorkerApi, 'generate' | 'image'>;

/** Records listed in the picker: a select of thousands of options takes seconds to build. */
export const MAX_RECORD_OPTIONS = 100;

/** The records to list: held-out ones first (unseen in training), then the rest, plus `keep`. */
export function recordOptions(records: RecordView[], keep: string): RecordView[] {
  if (records.length <= MAX_RECORD_OPTIONS) return records;
  const out = records.filter((r) => r.split === 'heldout').slice(0, MAX_RECORD_OPTIONS);
  for (const r of records) {
    if (out.length >= MAX_RECORD_OPTIONS) break;
    if (r.split !== 'heldout') out.push(r);
  }
  const kept = records.find((r) => r.id === keep);
  if (kept && !out.includes(kept)) out.push(kept);
  return out;
}

export class CompareView {
  readonly el: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly question: HTMLInputElement;
  private readonly maxTokens: HTMLInputElement;
  private readonly noisy: HTMLInputElement;
  private readonly preview: HTMLImageElement;
  private readonly runBtn: HTMLButtonElement;
  private readonly outputs: { base: HTMLElement; lora: HTMLElement };
  private records: RecordView[] = [];
  private file: File | null = null;
  private previewUrl: string | null = null;
  private previewSeq = 0;
  private running = false;
  private ready = false;

  constructor(
    private readonly api: Api,
    private readonly toasts: Toasts,
    private readonly noiseStep: () => number,
  ) {
    this.select = h('select', { testid: 'compare-record', attrs: { 'aria-label': 'Image to ask about' } });
    this.select.addEventListener('change', () => this.pickRecord());
    const fileInput = h('input', { testid: 'compare-file', attrs: { type: 'file', accept: 'image/*', 'aria-label': 'Choose a new image' } });
    fileInput.addEventListener('change', () => {
      const f = fileInput.files?.[0];
      fileInput.value = '';
      if (f) this.useFile(f);
    });
    this.preview = h('img', { class: 'compare-preview', testid: 'compare-image', attrs: { alt: 'The image the models are asked about', width: 160, height: 160 } });
    const previewBox = h('div', { class: 'img-frame compare-drop', testid: 'compare-drop', attrs: { title: 'Drop an image here' } }, this.preview);
    previewBox.addEventListener('dragover', (e) => {
      e.preventDefault();
      previewBox.classList.add('is-over');
    });
    previewBox.addEventListener('dragleave', () => previewBox.classList.remove('is-over'));
    previewBox.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      previewBox.classList.remove('is-over');
      const f = Array.from(e.dataTransfer?.files ?? []).find((x) => x.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|bmp)$/i.test(x.name));
      if (f) this.useFile(f);
      else this.toasts.show('Drop an image file (PNG, JPEG, WebP).', 'error');
    });

    this.question = h('input', { testid: 'compare-question', attrs: { type: 'text', placeholder: 'Ask about the image…', 'aria-label': 'Question' } });
    this.maxTokens = h('input', { testid: 'compare-max-tokens', attrs: { type: 'number', min: 1, max: 512, value: 48, 'aria-label': 'Maximum new tokens' } });
    this.noisy = h('input', { testid: 'compare-noisy', attrs: { type: 'checkbox' } });
    this.runBtn = h('button', { class: 'button', testid: 'compare-run', text: 'Ask both', attrs: { type: 'button' } });
    this.runBtn.addEventListener('click', () => void this.run());
    this.question.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') void this.run();
    });

    const panel = (title: string, testid: string) => {
      const out = h('p', { class: 'answer', testid, attrs: { 'aria-live': 'polite' } });
      return { out, el: h('div', { class: 'answer-panel' }, h('h3', { text: title }), out) };
    };
    const base = panel('Adapter off (base model)', 'answer-base');
    const lora = panel('Adapter on (fine-tuned)', 'answer-lora');
    this.outputs = { base: base.out, lora: lora.out };

    this.el = h(
      'div',
      { class: 'compare', testid: 'compare' },
      h(
        'div',
        { class: 'compare-input' },
        previewBox,
        h(
          'div',
          { class: 'stack grow' },
          h('label', { class: 'stack' }, h('span', { text: 'Image' }), this.select),
          h('label', { class: 'button secondary small' }, 'Or choose a new image…', fileInput),
          h('label', { class: 'stack' }, h('span', { text: 'Question' }), this.question),
          h(
            'div',
            { class: 'row' },
            h('label', { class: 'inline' }, 'Max tokens ', this.maxTokens),
            h('label', { class: 'check plain' }, this.noisy, ' on the noisy image'),
            this.runBtn,
          ),
        ),
      ),
      h('div', { class: 'answers' }, base.el, lora.el),
    );
    this.preview.hidden = true;
    this.setRecords([]);
    this.setReady(false);
  }

  setReady(ready: boolean): void {
    this.ready = ready;
    this.runBtn.disabled = !ready || this.running;
    this.runBtn.title = ready ? '' : 'Load a model first';
  }

  setRecords(records: RecordView[]): void {
    this.records = records;
    const current = this.select.value;
    clear(this.select);
    this.select.append(h('option', { text: this.file ? `New image: ${this.file.name}` : records.length ? 'Choose a record…' : 'No records yet', attrs: { value: '' } }));
    const listed = recordOptions(records, current);
    for (const r of listed) this.select.append(h('option', { text: `${r.image} — ${r.question}`, attrs: { value: r.id } }));
    if (listed.length < records.length)
      this.select.append(h('option', { text: `(${(records.length - listed.length).toLocaleString('en-US')} more records not listed: the held-out ones come first)`, attrs: { value: '', disabled: true } }));
    if (records.some((r) => r.id === current)) this.select.value = current;
    else if (!this.file && records.length) {
      this.select.value = listed[0].id;
      this.pickRecord();
    } else if (!this.file) {
      this.previewSeq++;
      this.preview.hidden = true;
    }
  }

  private pickRecord(): void {
    const r = this.records.find((x) => x.id === this.select.value);
    if (!r) return;
    this.file = null;
    this.question.value = r.question;
    const mine = ++this.previewSeq;
    this.api.image(r.id).then(
      (blob) => {
        if (mine === this.previewSeq) this.showPreview(blob);
      },
      (e) => this.toasts.error(e, `Image of ${r.image}`),
    );
  }

  private useFile(f: File): void {
    this.file = f;
    this.previewSeq++;
    this.showPreview(f);
    this.setRecords(this.records);
    this.select.value = '';
  }

  private showPreview(blob: Blob): void {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = URL.createObjectURL(blob);
    this.preview.src = this.previewUrl;
    this.preview.hidden = false;
  }

  private async run(): Promise<void> {
    if (this.running || !this.ready) return;
    const question = this.question.value.trim();
    const recordId = this.select.value || undefined;
    if (!question) return void this.toasts.show('Type a question first.', 'error');
    if (!recordId && !this.file) return void this.toasts.show('Pick a record or choose an image first.', 'error');
    const maxNewTokens = Math.max(1, Math.min(512, Math.round(Number(this.maxTokens.value) || 48)));
    const base: Omit<GenerateRequest, 'lora'> = {
      question,
      maxNewTokens,
      temperature: 0,
      ...(recordId ? { recordId } : { image: this.file ?? undefined }),
      ...(this.noisy.checked ? { noiseStep: this.noiseStep() } : {}),
    };
    this.running = true;
    this.runBtn.disabled = true;
    this.el.dataset.state = 'running';
    for (const out of Object.values(this.outputs)) {
      out.textContent = '';
      delete out.dataset.state;
    }
    try {
      // One after the other: the Worker has one GPU queue, and the base answer is the reference.
      for (const [key, lora] of [['base', false], ['lora', true]] as const) {
        const out = this.outputs[key];
        out.dataset.state = 'streaming';
        // The Worker streams the whole answer so far (decoding token by token would split characters).
        const onToken = (soFar: string) => {
          out.textContent = soFar;
        };
        const text = await this.api.generate({ ...base, lora }, Comlink.proxy(onToken));
        out.textContent = text;
        out.dataset.state = 'done';
      }
      this.el.dataset.state = 'done';
    } catch (e) {
      this.el.dataset.state = 'error';
      this.toasts.error(e, 'Generation failed');
    } finally {
      this.running = false;
      this.setReady(this.ready);
    }
  }
}
