// The dataset as a table: one row per record (thumbnail, texts, noisy image with its slider, the
// model's answer on the noisy image, remove), plus the problems found while importing. Rows are
// kept by id and updated in place so thumbnails are fetched once.
// A large dataset is virtualised: the table scrolls in its own box and only the rows near its
// viewport are in the page (spacer rows stand in for the rest, at measured or estimated heights),
// so 20,000 records cost a few dozen rows of DOM, and thumbnails load for those rows only.
import type { DatasetView, PovidWorkerApi, Problem, RecordView } from '../worker/api';
import { completeView } from './dataset-view';
import { clear, debounce, h, plural, saveBytes } from './dom';
import { StreamedAnswer } from './generation';
import { NoiseSlider } from './noise-slider';
import { RecordEditor } from './record-editor';

const EAGER_ROWS = 24;
/** Up to this many records every row is in the page (find-in-page works); more are virtualised. */
export const VIRTUAL_FROM = 80;
/** Rows rendered above and below the visible part of the box, in pixels. */
const OVERSCAN_PX = 800;
/** Height assumed for a row not measured yet. */
const ROW_ESTIMATE_PX = 170;
/** Rows kept out of the page after they scroll away (an open edit survives scrolling). */
const ROW_CACHE = 150;
/** Problems listed; the full list can be saved as a text file. */
const PROBLEMS_SHOWN = 200;

type Api = Pick<
  PovidWorkerApi,
  | 'image'
  | 'noisyImage'
  | 'noisyAnswer'
  | 'stopGeneration'
  | 'updateRecord'
  | 'removeRecord'
  | 'clearDataset'
  | 'recordsSlice'
  | 'datasetView'
>;

class RecordRow {
  readonly el: HTMLTableRowElement;
  readonly editor: RecordEditor;
  readonly slider: NoiseSlider;
  private readonly thumb: HTMLImageElement;
  private readonly split: HTMLElement;
  private readonly flag: HTMLElement;
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
    this.flag = h('small', { class: 'rec-flag', testid: 'rec-flag' });
    this.editor = new RecordEditor(
      api,
      r,
      (u) => table.patched(u),
      (e) => table.onError(e, `Could not save ${r.image}`),
    );
    this.slider = new NoiseSlider(api, r.id, r.image, table.noiseSeed, (e) => table.onError(e, `Noisy image of ${r.image}`));
    this.answer = h('p', { class: 'noisy-answer', testid: 'noisy-answer' });
    this.ask = h('button', {
      class: 'button secondary small',
      testid: 'noisy-answer-button',
      text: 'Ask the model',
      attrs: { type: 'button' },
    });
    this.ask.title = 'What the model says about the noisy image: the noise-triggered hallucination';
    this.ask.addEventListener('click', () => void this.askNoisy());
    this.stream = new StreamedAnswer(this.answer);
    this.stopAsk = h('button', { class: 'button danger small', testid: 'noisy-answer-stop', text: 'Stop', attrs: { type: 'button' } });
    this.stopAsk.hidden = true;
    this.stopAsk.addEventListener(
      'click',
      () => void this.stream.stop(table.api).catch((e) => table.onError(e, 'Could not stop the answer')),
    );
    const remove = h('button', {
      class: 'button danger small',
      testid: 'rec-remove',
      text: 'Remove',
      attrs: { type: 'button', 'aria-label': `Remove ${r.image}` },
    });
    remove.addEventListener('click', () => void table.remove(r.id, r.image));

    this.el = h(
      'tr',
      { testid: 'record-row' },
      h(
        'td',
        { class: 'cell-image', attrs: { 'data-label': 'Image' } },
        h('div', { class: 'img-frame' }, this.thumb),
        h('small', { class: 'file-name', text: r.image }),
        this.split,
        this.flag,
      ),
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
    this.split.textContent = r.split === 'heldout' ? 'held out' : r.split === 'excluded' ? 'left out' : 'train';
    this.split.classList.toggle('muted-tag', r.split === 'heldout');
    this.split.classList.toggle('bad', r.split === 'excluded');
    this.flag.textContent = r.flag ?? '';
    this.flag.hidden = r.flag === undefined;
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

  get id(): string {
    return this.record.id;
  }

  /** An edit is open or an answer is on its way: the row must survive scrolling away. */
  get busy(): boolean {
    return this.asking || this.editor.busy;
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
  /** Rows made so far, by id: those in the page and up to ROW_CACHE more. */
  private readonly rows = new Map<string, RecordRow>();
  private readonly tbody: HTMLTableSectionElement;
  private readonly table: HTMLTableElement;
  private readonly scroller: HTMLElement;
  private readonly topSpacer: HTMLTableRowElement;
  private readonly bottomSpacer: HTMLTableRowElement;
  private readonly summary: HTMLElement;
  private readonly problems: HTMLElement;
  private readonly splitNotice: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly observer: IntersectionObserver | null;
  private view: DatasetView = { records: [], problems: [] };
  /** Measured row heights by id (virtualised layout). */
  private readonly heights = new Map<string, number>();
  private measuredSum = 0;
  /** Row offsets of the current records and heights (cleared when either changes). */
  private topsCache: Float64Array | null = null;
  private layoutFrame = 0;
  /** Rows of a virtualised table load their images once scrolling pauses, not for every row flown past. */
  private readonly loadSoon = debounce(() => this.loadInPage(), 120);
  /** Problems the user dismissed, by file, record and reason. */
  private readonly dismissed = new Set<string>();

  constructor(
    readonly api: Api,
    readonly onError: (e: unknown, title: string) => void,
    private readonly onChange: (view: DatasetView) => void,
    readonly noiseSeed = 42,
  ) {
    this.summary = h('p', { class: 'dataset-summary', testid: 'dataset-summary', text: 'No records yet.' });
    const clearAll = h('button', {
      class: 'button secondary small',
      testid: 'dataset-clear',
      text: 'Clear all',
      attrs: { type: 'button' },
    });
    clearAll.addEventListener('click', () => void this.clearAll());
    this.problems = h('div', { class: 'problems', testid: 'problems', attrs: { 'aria-live': 'polite' } });
    this.problems.hidden = true;
    this.splitNotice = h('div', { class: 'notice split-notice', testid: 'split-notice', attrs: { 'aria-live': 'polite' } });
    this.splitNotice.hidden = true;
    const spacer = () => {
      const td = h('td', { attrs: { colspan: 5 } });
      td.style.cssText = 'height:0;padding:0;border:0';
      return h('tr', { class: 'spacer', attrs: { 'aria-hidden': 'true' } }, td);
    };
    this.topSpacer = spacer();
    this.bottomSpacer = spacer();
    this.tbody = h('tbody', {}, this.topSpacer, this.bottomSpacer);
    this.table = h(
      'table',
      { class: 'dataset', testid: 'dataset-table' },
      h('caption', { class: 'sr-only', text: 'Preference records' }),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Image', 'Question and answers', 'Noisy image (preview)', 'Answer on the noisy image', ''].map((t) =>
            h('th', { text: t, attrs: { scope: 'col' } }),
          ),
        ),
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
    this.scroller = h('div', { class: 'table-scroll', testid: 'dataset-scroll' }, this.table);
    this.scroller.addEventListener('scroll', () => this.scheduleLayout(), { passive: true });
    if (typeof ResizeObserver === 'function') new ResizeObserver(() => this.scheduleLayout()).observe(this.scroller);
    this.el = h(
      'div',
      { class: 'dataset-wrap' },
      h('div', { class: 'row spread' }, this.summary, clearAll),
      this.problems,
      this.splitNotice,
      this.empty,
      this.scroller,
    );
  }

  get records(): RecordView[] {
    return this.view.records;
  }

  /** Large datasets keep only the rows near the viewport in the page. */
  get virtual(): boolean {
    return this.view.records.length > VIRTUAL_FROM;
  }

  render(view: DatasetView): void {
    const before = this.view;
    this.view = view;
    const ids = new Set<string>();
    for (const r of view.records) ids.add(r.id);
    for (const [id, row] of this.rows) {
      if (ids.has(id)) continue;
      this.dropRow(id, row);
      this.heights.delete(id);
    }
    for (const r of view.records) this.rows.get(r.id)?.update(r);
    this.measuredSum = 0;
    for (const [id, px] of this.heights) ids.has(id) ? (this.measuredSum += px) : this.heights.delete(id);
    this.topsCache = null;
    this.scroller.classList.toggle('is-virtual', this.virtual);
    this.scroller.dataset.virtual = String(this.virtual);
    this.layout();
    this.renderSummary();
    this.renderProblems(view.problems);
    this.noticeSplitChange(before, view);
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
      this.render(await completeView(this.api, await this.api.removeRecord(id)));
    } catch (e) {
      this.onError(e, `Could not remove ${name}`);
    }
  }

  /** Brings a record's row into the page and into view (the row may not exist while virtualised). */
  scrollToRecord(id: string): HTMLElement | null {
    const k = this.view.records.findIndex((r) => r.id === id);
    if (k < 0) return null;
    if (this.virtual) {
      this.scroller.scrollTop = this.tops()[k] + this.headHeight();
      this.layout();
    }
    const el = this.rows.get(id)?.el ?? null;
    el?.scrollIntoView({ block: 'nearest' });
    return el;
  }

  private scheduleLayout(): void {
    if (this.layoutFrame || !this.virtual) return;
    this.layoutFrame = requestAnimationFrame(() => {
      this.layoutFrame = 0;
      this.layout();
    });
  }

  private rowEstimate(): number {
    return this.heights.size > 0 ? this.measuredSum / this.heights.size : ROW_ESTIMATE_PX;
  }

  /** Offsets of each row's top from the first row's, and the total at index n. */
  private tops(): Float64Array {
    if (this.topsCache) return this.topsCache;
    const recs = this.view.records;
    const est = this.rowEstimate();
    const tops = new Float64Array(recs.length + 1);
    for (let i = 0; i < recs.length; i++) tops[i + 1] = tops[i] + (this.heights.get(recs[i].id) ?? est);
    this.topsCache = tops;
    return tops;
  }

  private headHeight(): number {
    return this.table.tHead?.offsetHeight ?? 0;
  }

  /** Puts the rows of the visible range (all of them for a small dataset) between the spacers. */
  private layout(): void {
    const recs = this.view.records;
    let first = 0;
    let last = recs.length;
    let tops: Float64Array | null = null;
    if (this.virtual && !this.table.hidden) {
      tops = this.tops();
      const viewTop = this.scroller.scrollTop - this.headHeight();
      const viewBottom = viewTop + (this.scroller.clientHeight || 800);
      first = Math.max(0, upperBound(tops, viewTop - OVERSCAN_PX) - 1);
      last = Math.min(recs.length, Math.max(first + 1, lowerBound(tops, viewBottom + OVERSCAN_PX)));
    } else if (this.virtual) {
      last = Math.min(recs.length, 1);
    }
    const wanted: RecordRow[] = [];
    for (let i = first; i < last; i++) {
      const r = recs[i];
      let row = this.rows.get(r.id);
      if (!row) {
        row = new RecordRow(this, r);
        this.rows.set(r.id, row);
        // Small tables: the first screenfuls load at once, the rest as they scroll into view.
        // Virtualised: only rows near the viewport exist; they load when scrolling pauses.
        if (!this.virtual) {
          if (this.observer && this.rows.size > EAGER_ROWS) this.observer.observe(row.el);
          else row.load();
        }
      }
      wanted.push(row);
    }
    this.place(wanted);
    if (this.virtual) this.loadSoon();
    if (tops) {
      // Measure what is in the page; the spacers take the estimate for the rest.
      let changed = false;
      for (const row of wanted) {
        const px = row.el.offsetHeight;
        if (px <= 0) continue;
        const old = this.heights.get(row.id);
        if (old === px) continue;
        this.measuredSum += px - (old ?? 0);
        this.heights.set(row.id, px);
        changed = true;
      }
      if (changed) {
        this.topsCache = null;
        tops = this.tops();
      }
      this.setSpacers(tops[first], tops[recs.length] - tops[last]);
    } else this.setSpacers(0, 0);
    this.evict(new Set(wanted));
  }

  private loadInPage(): void {
    for (let n = this.topSpacer.nextSibling; n && n !== this.bottomSpacer; n = n.nextSibling) {
      const id = (n as HTMLElement).dataset.id;
      if (id) this.rows.get(id)?.load();
    }
  }

  /** Makes the rows between the spacers exactly `wanted`, in order, moving none that stays. */
  private place(wanted: RecordRow[]): void {
    const keep = new Set(wanted.map((r) => r.el));
    for (let n = this.topSpacer.nextSibling; n && n !== this.bottomSpacer;) {
      const next = n.nextSibling;
      if (!keep.has(n as HTMLTableRowElement)) n.remove();
      n = next;
    }
    let cursor = this.topSpacer.nextSibling;
    for (const row of wanted) {
      if (cursor === row.el) cursor = cursor.nextSibling;
      else this.tbody.insertBefore(row.el, cursor);
    }
  }

  private setSpacers(top: number, bottom: number): void {
    (this.topSpacer.firstChild as HTMLElement).style.height = `${Math.round(top)}px`;
    (this.bottomSpacer.firstChild as HTMLElement).style.height = `${Math.round(bottom)}px`;
    this.topSpacer.hidden = top <= 0;
    this.bottomSpacer.hidden = bottom <= 0;
  }

  /** Forgets rows out of the page beyond the cache, oldest first, sparing busy ones. */
  private evict(inPage: Set<RecordRow>): void {
    let excess = this.rows.size - inPage.size - ROW_CACHE;
    if (excess <= 0) return;
    for (const [id, row] of this.rows) {
      if (excess <= 0) break;
      if (inPage.has(row) || row.busy) continue;
      this.dropRow(id, row);
      excess--;
    }
  }

  private dropRow(id: string, row: RecordRow): void {
    this.observer?.unobserve(row.el);
    row.dispose();
    row.el.remove();
    this.rows.delete(id);
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
    let held = 0;
    let excluded = 0;
    let injected = 0;
    for (const r of this.view.records) {
      if (r.split === 'heldout') held++;
      else if (r.split === 'excluded') excluded++;
      if (r.rejectedSource === 'injected') injected++;
    }
    const n = this.view.records.length;
    const p = this.view.problems.length;
    this.table.hidden = n === 0;
    this.empty.hidden = n > 0;
    this.summary.textContent =
      n === 0
        ? p
          ? `No usable records; ${plural(p, 'problem')} below.`
          : 'No records yet.'
        : `${plural(n, 'record')} (${(n - held - excluded).toLocaleString('en-US')} train, ${held.toLocaleString('en-US')} held out${excluded ? `, ${excluded.toLocaleString('en-US')} left out` : ''}; ${injected.toLocaleString('en-US')} with an injected hallucination)${p ? `, ${plural(p, 'problem')}` : ''}.`;
    this.el.dataset.records = String(n);
  }

  /** Says which records moved between training and held out, and why that happens. */
  private noticeSplitChange(before: DatasetView, after: DatasetView): void {
    if (before.records.length === 0) return;
    const was = new Map<string, RecordView['split']>();
    for (const r of before.records) was.set(r.id, r.split);
    const nowHeld: RecordView[] = [];
    const nowTrain: RecordView[] = [];
    for (const r of after.records) {
      const old = was.get(r.id);
      if (old === undefined || old === r.split || old === 'excluded' || r.split === 'excluded') continue;
      (r.split === 'heldout' ? nowHeld : nowTrain).push(r);
    }
    if (nowHeld.length === 0 && nowTrain.length === 0) return;
    const names = (rs: RecordView[]) =>
      rs
        .slice(0, 3)
        .map((r) => r.image)
        .join(', ') + (rs.length > 3 ? ` and ${(rs.length - 3).toLocaleString('en-US')} more` : '');
    const parts: string[] = [];
    if (nowHeld.length) parts.push(`now held out: ${names(nowHeld)}`);
    if (nowTrain.length) parts.push(`back in training: ${names(nowTrain)}`);
    clear(this.splitNotice);
    const close = h('button', { class: 'button link small', text: 'OK', attrs: { type: 'button', 'aria-label': 'Dismiss this notice' } });
    close.addEventListener('click', () => (this.splitNotice.hidden = true));
    this.splitNotice.append(
      h('span', {
        text: `The held-out records changed (${parts.join('; ')}). They are drawn from all usable records with the seed and the held-out fraction, so adding or removing records, or changing those settings, can change them.`,
      }),
      close,
    );
    this.splitNotice.hidden = false;
  }

  private renderProblems(all: Problem[]): void {
    clear(this.problems);
    const key = (p: Problem) => `${p.file}\u0000${p.record ?? ''}\u0000${p.reason}`;
    const problems = this.dismissed.size ? all.filter((p) => !this.dismissed.has(key(p))) : all;
    this.problems.hidden = problems.length === 0;
    if (!problems.length) return;
    const dismiss = h('button', {
      class: 'button secondary small',
      testid: 'problems-dismiss',
      text: 'Dismiss',
      attrs: { type: 'button', 'aria-label': 'Dismiss these problems' },
    });
    dismiss.addEventListener('click', () => {
      for (const p of problems) this.dismissed.add(key(p));
      this.renderProblems(this.view.problems);
    });
    const shown = problems.slice(0, PROBLEMS_SHOWN);
    const more = problems.length - shown.length;
    const save = h('button', {
      class: 'button link small',
      testid: 'problems-save',
      text: 'Save the full list',
      attrs: { type: 'button' },
    });
    save.addEventListener('click', () =>
      saveBytes(
        'problems.txt',
        new TextEncoder().encode(problems.map((p) => `${p.file}${p.record ? ` (record ${p.record})` : ''}: ${p.reason}`).join('\n') + '\n'),
        'text/plain',
      ),
    );
    this.problems.append(
      h(
        'div',
        { class: 'row spread' },
        h('h3', { text: `${plural(problems.length, 'problem')} while importing` }),
        h('div', { class: 'row' }, save, dismiss),
      ),
      h(
        'ul',
        {},
        ...shown.map((p) =>
          h(
            'li',
            { testid: 'problem' },
            h('strong', { class: 'problem-file', text: p.file }),
            p.record ? h('span', { class: 'muted', text: ` (record ${p.record})` }) : null,
            ': ',
            p.reason,
          ),
        ),
      ),
    );
    if (more > 0)
      this.problems.append(
        h('p', {
          class: 'muted',
          testid: 'problems-more',
          text: `… and ${plural(more, 'more problem')}: save the full list to read them all.`,
        }),
      );
  }
}

/** First index i with a[i] > x (a ascending). */
function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index i with a[i] >= x (a ascending). */
function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
