// What this browser keeps of the session: what came back after a reload (and what could not),
// what is stored now and what the storage refused, how much was reused instead of recomputed,
// and "Start over", which deletes it all after a confirmation.
import type { PovidWorkerApi, RestoredSession, StorageReport, WorkCounters } from '../worker/api';
import { confirmDialog } from './confirm';
import { clear, debounce, formatBytes, h } from './dom';
import { STORAGE_KEY as SETTINGS_KEY } from './settings';
import type { Toasts } from './toast';

type Api = Pick<PovidWorkerApi, 'restoreSession' | 'storageStatus' | 'workCounters' | 'startOver'>;

/** localStorage keys of the page (settings), cleared by Start over. */
export const PAGE_STORAGE_KEYS = [SETTINGS_KEY];

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export class SessionPanel {
  readonly el: HTMLElement;
  private readonly status: HTMLElement;
  private readonly notes: HTMLElement;
  private readonly counters: HTMLElement;
  private restoredNotes: string[] = [];
  /** Refreshes at most every half second, however often the dataset changes. */
  readonly refreshSoon = debounce(() => void this.refresh(), 500);

  constructor(
    private readonly api: Api,
    private readonly toasts: Toasts,
    /** After Start over: the page starts afresh. */
    private readonly reload: () => void = () => location.reload(),
  ) {
    this.status = h('span', { testid: 'session-status', text: 'Checking what this browser kept…' });
    this.counters = h('span', { class: 'muted', testid: 'work-counters' });
    this.notes = h('ul', { class: 'session-notes', testid: 'session-notes' });
    this.notes.hidden = true;
    const startOver = h('button', { class: 'button link small', testid: 'start-over', text: 'Start over…', attrs: { type: 'button' } });
    startOver.addEventListener('click', () => void this.startOver());
    this.el = h(
      'div',
      { class: 'session-panel', testid: 'session', attrs: { 'aria-live': 'polite' } },
      h('div', { class: 'session-line' }, this.status, this.counters, startOver),
      this.notes,
    );
  }

  /** Loads the saved session into the Worker; null when the Worker could not answer. */
  async restore(): Promise<RestoredSession | null> {
    try {
      const r = await this.api.restoreSession();
      const lines: string[] = [];
      if (r.restored) {
        const d = r.dataset.records.length;
        const images = new Set(r.dataset.records.map((x) => x.image)).size;
        lines.push(
          `Restored from this browser: ${plural(d, 'record')} with ${plural(images, 'image')}, ${plural(r.runs.length, 'training run')}${r.model ? '; the model loads by itself' : ''}.`,
        );
      }
      if (r.modelNote) lines.push(r.modelNote);
      lines.push(...r.dropped);
      this.restoredNotes = lines;
      this.el.dataset.restored = String(r.restored);
      this.el.dataset.dropped = String(r.dropped.length);
      this.render(r.storage, null);
      void this.refresh();
      return r;
    } catch (e) {
      this.status.textContent = 'The saved session could not be read.';
      this.toasts.error(e, 'The saved session could not be read');
      return null;
    }
  }

  async refresh(): Promise<void> {
    try {
      const [report, counters] = await Promise.all([this.api.storageStatus(), this.api.workCounters()]);
      this.render(report, counters);
    } catch (e) {
      console.warn('storage status failed', e);
    }
  }

  private render(r: StorageReport, c: WorkCounters | null): void {
    const s = r.saved;
    const usage = r.usage ? ` (${formatBytes(r.usage.bytes)} of ${formatBytes(r.usage.quota)} this site may use)` : '';
    this.status.textContent = `Saved in this browser: ${plural(s.records, 'record')}, ${plural(s.images, 'image')}, ${plural(s.runs, 'run')}; features of ${plural(s.features, 'image')}, reference log-probs of ${plural(s.references, 'record')}${usage}.`;
    this.el.dataset.complete = String(r.complete);
    this.el.dataset.savedRecords = String(s.records);
    this.el.dataset.savedImages = String(s.images);
    if (c) {
      this.counters.textContent = `This tab computed ${plural(c.referencePasses, 'reference pass', 'reference passes')} and ${plural(c.featureEncodings, 'image encoding')}; reused from storage: ${c.referencesReused} and ${c.featuresReused}.`;
      this.counters.dataset.referencePasses = String(c.referencePasses);
      this.counters.dataset.referencesReused = String(c.referencesReused);
      this.counters.dataset.featureEncodings = String(c.featureEncodings);
      this.counters.dataset.featuresReused = String(c.featuresReused);
    }
    const lines = [...this.restoredNotes];
    if (!r.complete) lines.push('Not everything could be stored, so not everything will come back after a reload:', ...r.notSaved);
    clear(this.notes);
    for (const l of lines) this.notes.append(h('li', { testid: 'session-note', text: l, class: l.startsWith('Restored') ? '' : 'warn' }));
    this.notes.hidden = lines.length === 0;
  }

  private async startOver(): Promise<void> {
    const alsoModel = h('input', { testid: 'start-over-model-cache', attrs: { type: 'checkbox' } });
    const yes = await confirmDialog({
      title: 'Start over?',
      message:
        'This deletes everything this page saved in this browser: the records and images, your edits, the cached features, every training run with its adapter, and the settings. Files you downloaded are not touched.',
      confirm: 'Delete everything',
      extra: h('label', { class: 'check' }, alsoModel, ' Also delete the downloaded model files (they are fetched again next time)'),
    });
    if (!yes) return;
    try {
      await this.api.startOver({ modelCache: alsoModel.checked });
      for (const k of PAGE_STORAGE_KEYS) localStorage.removeItem(k);
      this.reload();
    } catch (e) {
      this.toasts.error(e, 'Could not delete the saved session');
    }
  }
}
