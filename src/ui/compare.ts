// Side by side: the record's preferred answer, the base model (adapter off) and the fine-tuned
// one (adapter on) answering the same question about a record's image or a new image, streamed
// token by token and stoppable. Words that differ from the preferred answer (or, for a new image,
// from the other model's answer) are highlighted, and each answer's log-prob under both models
// shows what training moved.
import type { AnswerScore, GenerateRequest, PovidWorkerApi, RecordView } from '../worker/api';
import { clear, errorMessage, h } from './dom';
import { StreamedAnswer } from './generation';
import type { Toasts } from './toast';
import { markChanged } from './word-diff';

type Api = Pick<PovidWorkerApi, 'generate' | 'image' | 'stopGeneration' | 'scoreAnswers'>;

/** An answer's text as parts, the changed words in highlighted spans (text nodes only). */
function renderMarked(out: HTMLElement, reference: string, answer: string): number {
  clear(out);
  let changed = 0;
  for (const part of markChanged(reference, answer)) {
    if (part.changed) {
      changed++;
      out.append(h('span', { class: 'diff-changed', testid: 'diff-changed', text: part.text }));
    } else out.append(document.createTextNode(part.text));
  }
  return changed;
}

const fmtLogprob = (v: number | null) => (v === null ? '–' : v.toFixed(2));

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
  private readonly stopBtn: HTMLButtonElement;
  private readonly outputs: { base: HTMLElement; lora: HTMLElement };
  private readonly streams: { base: StreamedAnswer; lora: StreamedAnswer };
  private readonly preferred: HTMLElement;
  private readonly preferredPanel: HTMLElement;
  private readonly answersBox: HTMLElement;
  private readonly legend: HTMLElement;
  private readonly scores: HTMLElement;
  private current: StreamedAnswer | null = null;
  private stopping = false;
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
    const fileInput = h('input', {
      testid: 'compare-file',
      attrs: { type: 'file', accept: 'image/*', 'aria-label': 'Choose a new image' },
    });
    fileInput.addEventListener('change', () => {
      const f = fileInput.files?.[0];
      fileInput.value = '';
      if (f) this.useFile(f);
    });
    this.preview = h('img', {
      class: 'compare-preview',
      testid: 'compare-image',
      attrs: { alt: 'The image the models are asked about', width: 160, height: 160 },
    });
    const previewBox = h(
      'div',
      { class: 'img-frame compare-drop', testid: 'compare-drop', attrs: { title: 'Drop an image here' } },
      this.preview,
    );
    previewBox.addEventListener('dragover', (e) => {
      e.preventDefault();
      previewBox.classList.add('is-over');
    });
    previewBox.addEventListener('dragleave', () => previewBox.classList.remove('is-over'));
    previewBox.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      previewBox.classList.remove('is-over');
      const f = Array.from(e.dataTransfer?.files ?? []).find(
        (x) => x.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|bmp)$/i.test(x.name),
      );
      if (f) this.useFile(f);
      else this.toasts.show('Drop an image file (PNG, JPEG, WebP).', 'error');
    });

    this.question = h('input', {
      testid: 'compare-question',
      attrs: { type: 'text', placeholder: 'Ask about the image…', 'aria-label': 'Question' },
    });
    this.maxTokens = h('input', {
      testid: 'compare-max-tokens',
      attrs: { type: 'number', min: 1, max: 512, value: 48, 'aria-label': 'Maximum new tokens' },
    });
    this.noisy = h('input', { testid: 'compare-noisy', attrs: { type: 'checkbox' } });
    this.runBtn = h('button', { class: 'button', testid: 'compare-run', text: 'Ask both', attrs: { type: 'button' } });
    this.runBtn.addEventListener('click', () => void this.run());
    this.stopBtn = h('button', { class: 'button danger', testid: 'compare-stop', text: 'Stop', attrs: { type: 'button' } });
    this.stopBtn.title = 'End the answer after the token being computed';
    this.stopBtn.hidden = true;
    this.stopBtn.addEventListener('click', () => void this.stop());
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
    this.streams = { base: new StreamedAnswer(base.out), lora: new StreamedAnswer(lora.out) };
    const pref = panel('Preferred answer (the record’s)', 'answer-preferred');
    this.preferred = pref.out;
    this.preferredPanel = pref.el;
    this.preferredPanel.classList.add('preferred');
    this.answersBox = h('div', { class: 'answers' }, this.preferredPanel, base.el, lora.el);
    this.legend = h('p', { class: 'diff-legend muted', testid: 'diff-legend' });
    this.legend.hidden = true;
    this.scores = h('div', { testid: 'compare-scores' });

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
            this.stopBtn,
          ),
        ),
      ),
      this.answersBox,
      this.legend,
      this.scores,
    );
    this.question.addEventListener('input', () => this.showPreferred());
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
    this.select.append(
      h('option', {
        text: this.file ? `New image: ${this.file.name}` : records.length ? 'Choose a record…' : 'No records yet',
        attrs: { value: '' },
      }),
    );
    const listed = recordOptions(records, current);
    for (const r of listed) this.select.append(h('option', { text: `${r.image} — ${r.question}`, attrs: { value: r.id } }));
    if (listed.length < records.length)
      this.select.append(
        h('option', {
          text: `(${(records.length - listed.length).toLocaleString('en-US')} more records not listed: the held-out ones come first)`,
          attrs: { value: '', disabled: true },
        }),
      );
    if (records.some((r) => r.id === current)) this.select.value = current;
    else if (!this.file && records.length) {
      this.select.value = listed[0].id;
      this.pickRecord();
    } else if (!this.file) {
      this.previewSeq++;
      this.preview.hidden = true;
    }
    this.showPreferred();
  }

  /** The record's preferred answer applies while its question is the one asked. */
  private preferredAnswer(): string | null {
    const r = this.file ? undefined : this.records.find((x) => x.id === this.select.value);
    return r && r.question.trim() === this.question.value.trim() ? r.chosen : null;
  }

  private showPreferred(): void {
    const p = this.preferredAnswer();
    if (this.running) return; // the panel shows what the running comparison is measured against
    this.preferredPanel.hidden = p === null;
    this.answersBox.classList.toggle('with-preferred', p !== null);
    this.preferred.textContent = p ?? '';
  }

  private pickRecord(): void {
    const r = this.records.find((x) => x.id === this.select.value);
    if (!r) return;
    this.file = null;
    this.question.value = r.question;
    this.showPreferred();
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
    this.showPreferred();
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
    this.showPreferred();
    const preferred = this.preferredAnswer();
    this.running = true;
    this.stopping = false;
    this.runBtn.disabled = true;
    this.stopBtn.hidden = false;
    this.stopBtn.disabled = false;
    this.el.dataset.state = 'running';
    this.legend.hidden = true;
    clear(this.scores);
    for (const out of Object.values(this.outputs)) {
      out.textContent = '';
      delete out.dataset.state;
      delete out.dataset.tokens;
    }
    const texts: { base?: string; lora?: string } = {};
    try {
      // One after the other: the Worker has one GPU queue, and the base answer is the reference.
      for (const [key, lora] of [
        ['base', false],
        ['lora', true],
      ] as const) {
        if (this.stopping) {
          this.outputs[key].dataset.state = 'skipped';
          continue;
        }
        const stream = this.streams[key];
        this.current = stream;
        // The Worker streams the whole answer so far (decoding token by token would split characters).
        const text = await this.api.generate({ ...base, lora }, stream.begin());
        stream.end(text);
        texts[key] = text;
      }
      this.current = null;
      this.stopBtn.hidden = true;
      this.highlight(preferred, texts);
      if (!this.stopping) await this.score(base, question, preferred, texts);
      this.el.dataset.state = this.stopping ? 'stopped' : 'done';
    } catch (e) {
      this.current?.fail();
      this.el.dataset.state = 'error';
      this.toasts.error(e, 'Generation failed');
    } finally {
      this.current = null;
      this.running = false;
      this.stopBtn.hidden = true;
      this.setReady(this.ready);
    }
  }

  /** Stop: the running answer ends after at most one more token, and the next one does not start. */
  private async stop(): Promise<void> {
    if (!this.running || this.stopping) return;
    this.stopping = true;
    this.stopBtn.disabled = true;
    try {
      await this.current?.stop(this.api);
    } catch (e) {
      this.toasts.error(e, 'Could not stop the generation');
    }
  }

  /** Highlights each answer's words that the reference lacks: the preferred answer, else the other model's answer. */
  private highlight(preferred: string | null, texts: { base?: string; lora?: string }): void {
    const { base, lora } = texts;
    let changed = 0;
    if (preferred !== null) {
      if (base !== undefined) changed += renderMarked(this.outputs.base, preferred, base);
      if (lora !== undefined) changed += renderMarked(this.outputs.lora, preferred, lora);
      this.legend.textContent = '';
      this.legend.append(
        h('span', { class: 'diff-changed', text: 'Highlighted' }),
        ': words that are not in the preferred answer (in its order).',
      );
    } else if (base !== undefined && lora !== undefined) {
      changed += renderMarked(this.outputs.base, lora, base);
      changed += renderMarked(this.outputs.lora, base, lora);
      this.legend.textContent = '';
      this.legend.append(
        h('span', { class: 'diff-changed', text: 'Highlighted' }),
        ': words where the two answers differ (no preferred answer for a new image or another question).',
      );
    } else return;
    this.legend.hidden = false;
    this.legend.dataset.changed = String(changed);
  }

  /** Log p of each answer under both models: a trained adapter raises the preferred answer's. */
  private async score(
    req: Omit<GenerateRequest, 'lora'>,
    question: string,
    preferred: string | null,
    texts: { base?: string; lora?: string },
  ): Promise<void> {
    const rows: { label: string; answer: string }[] = [];
    if (preferred !== null) rows.push({ label: 'Preferred answer', answer: preferred });
    if (texts.base) rows.push({ label: 'Adapter off’s answer', answer: texts.base });
    if (texts.lora) rows.push({ label: 'Adapter on’s answer', answer: texts.lora });
    if (!rows.length) return;
    this.scores.textContent = 'Scoring the answers under both models…';
    let scores: AnswerScore[];
    try {
      scores = await this.api.scoreAnswers({
        recordId: req.recordId,
        image: req.image,
        noiseStep: req.noiseStep,
        seed: req.seed,
        question,
        answers: rows.map((r) => r.answer),
      });
    } catch (e) {
      this.scores.textContent = `The answers could not be scored: ${errorMessage(e)}`;
      return;
    }
    clear(this.scores);
    const body = h('tbody');
    scores.forEach((sc, i) => {
      const diff = sc.base !== null && sc.lora !== null ? sc.lora - sc.base : null;
      const diffCell = h('td', {
        class: `num ${diff === null ? '' : diff >= 0 ? 'up' : 'down'}`,
        testid: 'score-diff',
        text: diff === null ? '–' : `${diff >= 0 ? '+' : ''}${diff.toFixed(2)}`,
      });
      body.append(
        h(
          'tr',
          { testid: 'score-row' },
          h('th', { attrs: { scope: 'row' } }, rows[i].label, sc.error ? h('small', { class: 'muted', text: ` (${sc.error})` }) : null),
          h('td', { class: 'num', text: String(sc.tokens) }),
          h('td', { class: 'num', testid: 'score-base', text: fmtLogprob(sc.base) }),
          h('td', { class: 'num', testid: 'score-lora', text: fmtLogprob(sc.lora) }),
          diffCell,
        ),
      );
    });
    this.scores.append(
      h(
        'table',
        { class: 'scores', testid: 'scores-table' },
        h('caption', {
          class: 'muted',
          text: 'log p(answer | image, question), summed over the answer’s tokens and its end token. Higher is more likely.',
        }),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { text: 'Answer' }),
            h('th', { text: 'Tokens' }),
            h('th', { text: 'Adapter off' }),
            h('th', { text: 'Adapter on' }),
            h('th', { text: 'On − off' }),
          ),
        ),
        body,
      ),
    );
  }
}
