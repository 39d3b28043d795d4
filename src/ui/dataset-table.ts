// The dataset as a table: one row per record (thumbnail, texts, noisy image with its slider, the
// model's answer on the noisy image, remove), plus the problems found while importing. Rows are
// kept by id and updated in place so thumbnails are fetched once.
import type { DatasetView, PovidWorkerApi, Problem, RecordView } from '../worker/api';
import { clear, h } from './dom';
import { StreamedAnswer } from './generation';
import { NoiseSlider } from './noise-slider';
import { RecordEditor } from './record-editor';

const EAGER_ROWS = 24;

type Api = Pick<PovidWorkerApi, 'image' | 'noisyImage' | 'noisyAnswer' | 'stopGeneration' | 'updateRecord' | 'removeRecord' | 'clearDataset'>;

class RecordRow {
  readonly el: HTMLTableRowElement;
  readonly editor: RecordEditor;
  readonly slider: NoiseSlider;
  private readonly thumb: HTMLImageElement;
  private readonly split: HTMLElement;
  private readonly answer: HTMLElement;
  private readonly ask: HTMLButtonElement;
  private readonly stopAsk: HTMLButtonElement;
  private readonly stream: StreamedAnswer;
  private thumbUrl: string | null = null;
  private loaded = false;
  private asking = false;
  private disposed = false;

  constructor(
    private readonly table: DatasetTable,
    private record: RecordView,
  ) {
    const api = table.api;
    const r = record;
    this.thumb = h('img', { class: 'thumb', testid: 'thumb', attrs: { alt: r.image, width: 96, height: 96 } });
    this.split = h('span', { class: 'tag', testid: 'rec-split' });
    this.editor = new RecordEditor(api, r, (u) => table.patched(u), (e) => table.onError(e, `Could not save ${r.image}`));
    this.slider = new NoiseSlider(api, r.id, r.image, table.noiseSeed, (e) => table.onError(e, `Noisy image of ${r.image}`));
    this.answer = h('p', { class: 'noisy-answer', testid: 'noisy-answer' });
    this.ask = h('button', { class: 'button secondary small', testid: 'noisy-answer-button', text: 'Ask the model', attrs: { type: 'button' } });
    this.ask.title = 'What the model says about the noisy image: the noise-triggered hallucination';
    this.ask.addEventListener('click', () => void this.askNoisy());
    this.stream = new StreamedAnswer(this.answer);
    this.stopAsk = h('button', { class: 'button danger small', testid: 'noisy-answer-stop', text: 'Stop', attrs: { type: 'button' } });
    this.stopAsk.hidden = true;
    this.stopAsk.addEventListener('click', () => void this.stream.stop(table.api).catch((e) => table.onError(e, 'Could not stop the answer')));
    const remove = h('button', { class: 'button danger small', testid: 'rec-remove', text: 'Remove', attrs: { type: 'button', 'aria-label': `Remove ${r.image}` } });
    remove.addEventListener('click', () => void table.remove(r.id, r.image));

    this.el = h(
      'tr',
      { testid: 'record-row' },
      h('td', { class: 'cell-image', attrs: { 'data-label': 'Image' } }, h('div', { class: 'img-frame' }, this.thumb), h('small', { class: 'file-name', text: r.image }), this.split),
      h('td', { class: 'cell-texts', attrs: { 'data-label': 'Texts' } }, this.editor.el),
      h('td', { class: 'cell-noise', attrs: { 'data-label': 'Noisy image' } }, this.slider.el),
      h('td', { class: 'cell-answer', attrs: { 'data-label': 'Answer on the noisy image' } }, this.answer, this.ask, this.stopAsk),
      h('td', { class: 'cell-actions', attrs: { 'data-label': '' } }, remove),
    );
    this.el.dataset.id = r.id;
    this.update(r);
  }

  update(r: RecordView): void {
    this.record = r;
    this.editor.update(r);
    this.split.textContent = r.split === 'heldout' ? 'held out' : 'train';
    this.split.classList.toggle('muted-tag', r.split === 'heldout');
    if (r.noisyAnswer !== undefined && !this.asking) this.answer.textContent = r.noisyAnswer;
    this.setModelReady(this.table.modelReady);
  }

  setModelReady(ready: boolean): void {
    this.ask.disabled = !ready || this.asking;
    if (!ready) this.ask.title = 'Load a model first';
  }

  /** Thumbnail and noisy image, fetched when the row first scrolls into view. */
  load(): void {
    if (this.loaded) return;
    this.loaded = true;
    this.table.api.image(this.record.id).then(
      (blob) => {
        if (this.disposed) return;
        this.thumbUrl = URL.createObjectURL(blob);
        this.thumb.src = this.thumbUrl;
      },
      (e) => this.table.onError(e, `Image of ${this.record.image}`),
    );
    this.slider.load();
  }

  private async askNoisy(): Promise<void> {
    this.asking = true;
    this.ask.disabled = true;
    this.stopAsk.hidden = false;
    try {
      const text = await this.table.api.noisyAnswer(this.record.id, this.slider.value, undefined, this.stream.begin());
      this.stream.end(text);
    } catch (e) {
      this.answer.textContent = '';
      this.stream.fail();
      this.table.onError(e, `Answer on the noisy ${this.record.image}`);
    } finally {
      this.asking = false;
      this.stopAsk.hidden = true;
      this.setModelReady(this.table.modelReady);
    }
  }

  dispose(): void {
    this.disposed = true;
    this.slider.dispose();
    if (this.thumbUrl) URL.revokeObjectURL(this.thumbUrl);
    this.thumbUrl = null;
  }
}

export class DatasetTable {
  readonly el: HTMLElement;
  modelReady = false;
  private readonly rows = new Map<string, RecordRow>();
  private readonly tbody: HTMLTableSectionElement;
  private readonly table: HTMLTableElement;
  private readonly summary: HTMLElement;
  private readonly problems: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly observer: IntersectionObserver | null;
  private view: DatasetView = { records: [], problems: [] };

  constructor(
    readonly api: Api,
    readonly onError: (e: unknown, title: string) => void,
    private readonly onChange: (view: DatasetView) => void,
    readonly noiseSeed = 42,
  ) {
    this.summary = h('p', { class: 'dataset-summary', testid: 'dataset-summary', text: 'No records yet.' });
    const clearAll = h('button', { class: 'button secondary small', testid: 'dataset-clear', text: 'Clear all', attrs: { type: 'button' } });
    clearAll.addEventListener('click', () => void this.clearAll());
    this.problems = h('div', { class: 'problems', testid: 'problems', attrs: { 'aria-live': 'polite' } });
    this.problems.hidden = true;
    this.tbody = h('tbody');
    this.table = h(
      'table',
      { class: 'dataset', testid: 'dataset-table' },
      h('caption', { class: 'sr-only', text: 'Preference records' }),
      h(
        'thead',
        {},
        h('tr', {}, ...['Image', 'Question and answers', 'Noisy image', 'Answer on the noisy image', ''].map((t) => h('th', { text: t, attrs: { scope: 'col' } }))),
      ),
      this.tbody,
    );
    this.empty = h('p', { class: 'muted empty', text: 'Drop images and a QA file above, or load the sample data.' });
    this.table.hidden = true;
    this.observer =
      typeof IntersectionObserver === 'function'
        ? new IntersectionObserver(
            (entries) => {
              for (const e of entries) {
                if (!e.isIntersecting) continue;
                const id = (e.target as HTMLElement).dataset.id;
                if (id) this.rows.get(id)?.load();
                this.observer?.unobserve(e.target);
              }
            },
            { rootMargin: '200px' },
          )
        : null;
    this.el = h('div', { class: 'dataset-wrap' }, h('div', { class: 'row spread' }, this.summary, clearAll), this.problems, this.empty, h('div', { class: 'table-scroll' }, this.table));
  }

  get records(): RecordView[] {
    return this.view.records;
  }

  render(view: DatasetView): void {
    this.view = view;
    const seen = new Set<string>();
    view.records.forEach((r, i) => {
      seen.add(r.id);
      let row = this.rows.get(r.id);
      if (!row) {
        row = new RecordRow(this, r);
        this.rows.set(r.id, row);
        // The first screenfuls load at once; the rest when they scroll into view.
        if (this.observer && this.rows.size > EAGER_ROWS) this.observer.observe(row.el);
        else row.load();
      } else {
        row.update(r);
      }
      // Keep the Worker's order without rebuilding rows.
      if (this.tbody.children[i] !== row.el) this.tbody.insertBefore(row.el, this.tbody.children[i] ?? null);
    });
    for (const [id, row] of this.rows) {
      if (seen.has(id)) continue;
      this.observer?.unobserve(row.el);
      row.dispose();
      row.el.remove();
      this.rows.delete(id);
    }
    this.renderSummary();
    this.renderProblems(view.problems);
    this.onChange(view);
  }

  /** One record changed (an edit was saved). */
  patched(r: RecordView): void {
    this.render({ ...this.view, records: this.view.records.map((x) => (x.id === r.id ? r : x)) });
  }

  setModelReady(ready: boolean): void {
    this.modelReady = ready;
    for (const row of this.rows.values()) row.setModelReady(ready);
  }

  async remove(id: string, name: string): Promise<void> {
    try {
      this.render(await this.api.removeRecord(id));
    } catch (e) {
      this.onError(e, `Could not remove ${name}`);
    }
  }

  private async clearAll(): Promise<void> {
    if (!this.view.records.length && !this.view.problems.length) return;
    if (!confirm('Remove every record from the dataset?')) return;
    try {
      await this.api.clearDataset();
      this.render({ records: [], problems: [] });
    } catch (e) {
      this.onError(e, 'Could not clear the dataset');
    }
  }

  private renderSummary(): void {
    const n = this.view.records.length;
    const held = this.view.records.filter((r) => r.split === 'heldout').length;
    const injected = this.view.records.filter((r) => r.rejectedSource === 'injected').length;
    const p = this.view.problems.length;
    this.table.hidden = n === 0;
    this.empty.hidden = n > 0;
    this.summary.textContent =
      n === 0
        ? p
          ? `No usable records; ${p} problem${p === 1 ? '' : 's'} below.`
          : 'No records yet.'
        : `${n} record${n === 1 ? '' : 's'} (${n - held} train, ${held} held out; ${injected} with an injected hallucination)${p ? `, ${p} problem${p === 1 ? '' : 's'}` : ''}.`;
    this.el.dataset.records = String(n);
  }

  private renderProblems(problems: Problem[]): void {
    clear(this.problems);
    this.problems.hidden = problems.length === 0;
    if (!problems.length) return;
    this.problems.append(
      h('h3', { text: `${problems.length} problem${problems.length === 1 ? '' : 's'} while importing` }),
      h(
        'ul',
        {},
        ...problems.map((p) =>
          h('li', { testid: 'problem' }, h('strong', { class: 'problem-file', text: p.file }), p.record ? h('span', { class: 'muted', text: ` (record ${p.record})` }) : null, ': ', p.reason),
        ),
      ),
    );
  }
}
