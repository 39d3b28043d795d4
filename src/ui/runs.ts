// Every training run, kept: its settings, progress, last loss and adapter. Each can be resumed
// (when it stopped early), loaded for Compare and Download, downloaded, deleted; ticked runs
// have their curves drawn on top of each other.
import type { PovidWorkerApi, RunMetrics, RunSummary } from '../worker/api';
import { LiveChart } from './chart';
import { confirmDialog } from './confirm';
import { clear, debounce, h, saveBytes } from './dom';
import type { Toasts } from './toast';

type Api = Pick<PovidWorkerApi, 'listRuns' | 'runMetrics' | 'runAdapter' | 'deleteRun' | 'useRun'>;

export interface RunsHooks {
  /** Continue a run in the training dashboard. */
  resume(id: string): void;
  /** Training holds the GPU now: no loading adapters. */
  busy(): boolean;
  /** A run's adapter was loaded into the model. */
  adapterLoaded(run: RunSummary): void;
}

const COLORS = ['#2563eb', '#dc2626', '#059669', '#7c3aed', '#f59e0b', '#0891b2'];

const STATUS: Record<RunSummary['status'], string> = {
  running: 'training',
  done: 'finished',
  cancelled: 'cancelled',
  interrupted: 'stopped (page closed)',
  error: 'stopped by an error',
};

export const runFileName = (r: Pick<RunSummary, 'number'>) => `povid-run-${r.number}-adapter.zip`;

function settingsLine(r: RunSummary): string {
  const c = r.config;
  return `${c.lossMode}, rank ${c.loraRank}, lr ${c.learningRate.toExponential(0)}, β ${c.beta}, ${c.steps > 0 ? `${c.steps} steps` : `${c.epochs} epochs`}, seed ${c.seed}`;
}

export class RunsPanel {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly overlayBox: HTMLElement;
  private readonly overlayHint: HTMLElement;
  private runs: RunSummary[] = [];
  private readonly overlay = new Set<string>();
  private readonly metrics = new Map<string, { updatedAt: string; m: RunMetrics }>();
  private charts: LiveChart[] = [];
  readonly refreshSoon = debounce(() => void this.refresh(), 400);

  constructor(
    private readonly api: Api,
    private readonly toasts: Toasts,
    private readonly hooks: RunsHooks,
  ) {
    this.body = h('tbody');
    this.empty = h('p', {
      class: 'muted',
      testid: 'runs-empty',
      text: 'No runs yet. Every training run is listed here and kept: a new run never replaces an earlier one.',
    });
    const table = h(
      'table',
      { class: 'runs-table', testid: 'runs-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Run', 'Status', 'Steps', 'Settings', 'Last loss', '', 'Overlay'].map((t) => h('th', { text: t, attrs: { scope: 'col' } })),
        ),
      ),
      this.body,
    );
    this.overlayHint = h('p', {
      class: 'muted',
      testid: 'overlay-hint',
      text: 'Tick runs under “Overlay” to draw their curves on top of each other.',
    });
    this.overlayBox = h('div', { class: 'charts', testid: 'runs-overlay', attrs: { 'data-runs': '' } });
    this.el = h(
      'div',
      { class: 'runs', testid: 'runs' },
      h('h3', { text: 'Runs' }),
      this.empty,
      h('div', { class: 'table-scroll' }, table),
      this.overlayHint,
      this.overlayBox,
    );
    this.render([]);
  }

  async refresh(): Promise<void> {
    try {
      this.render(await this.api.listRuns());
    } catch (e) {
      console.warn('listing runs failed', e);
    }
  }

  render(runs: RunSummary[]): void {
    this.runs = runs;
    for (const id of [...this.overlay]) if (!runs.some((r) => r.id === id)) this.overlay.delete(id);
    clear(this.body);
    this.empty.hidden = runs.length > 0;
    this.el.dataset.count = String(runs.length);
    for (const r of [...runs].reverse()) this.body.append(this.row(r));
    void this.drawOverlay();
  }

  private row(r: RunSummary): HTMLElement {
    const button = (testid: string, text: string, title: string, fn: () => void, cls = 'button secondary small') => {
      const b = h('button', { class: cls, testid, text, title, attrs: { type: 'button' } });
      b.addEventListener('click', fn);
      return b;
    };
    const busy = this.hooks.busy();
    const resume = button(
      'run-resume',
      'Resume',
      r.resumeBlocker ? `Cannot resume: ${r.resumeBlocker}` : `Continue from step ${r.savedStep} with this run's settings`,
      () => this.hooks.resume(r.id),
    );
    resume.disabled = !r.resumable || busy;
    resume.hidden = r.status === 'done';
    const use = button(
      'run-use',
      r.active ? 'Loaded' : 'Use in Compare',
      r.hasAdapter ? 'Load this adapter into the model: Compare and Download then use it' : 'No adapter of this run is stored',
      () => void this.use(r),
    );
    use.disabled = !r.hasAdapter || r.active || busy;
    const download = button(
      'run-download',
      'Download',
      r.hasAdapter ? `${runFileName(r)}: adapter_config.json and adapter_model.safetensors` : 'No adapter of this run is stored',
      () => void this.download(r),
    );
    download.disabled = !r.hasAdapter;
    const del = button(
      'run-delete',
      'Delete',
      'Delete this run, its checkpoint and its adapter',
      () => void this.remove(r),
      'button link small',
    );
    del.disabled = r.status === 'running';
    const tick = h('input', { testid: 'run-overlay', attrs: { type: 'checkbox', 'aria-label': `Overlay ${r.name}'s curves` } });
    tick.checked = this.overlay.has(r.id);
    tick.disabled = r.step === 0;
    tick.addEventListener('change', () => {
      if (tick.checked) this.overlay.add(r.id);
      else this.overlay.delete(r.id);
      void this.drawOverlay();
    });
    const created = new Date(r.createdAt);
    const steps = `${r.step} of ${r.totalSteps}${r.status !== 'done' && r.savedStep > 0 ? `; saved at ${r.savedStep}` : ''}${r.resumedFrom.length ? `; resumed at ${r.resumedFrom.join(', ')}` : ''}`;
    const status = `${STATUS[r.status]}${r.resumeBlocker && r.status !== 'done' && r.status !== 'running' ? ` (cannot resume: ${r.resumeBlocker})` : ''}`;
    return h(
      'tr',
      {
        testid: 'run-row',
        class: r.active ? 'is-active' : '',
        attrs: {
          'data-id': r.id,
          'data-number': r.number,
          'data-status': r.status,
          'data-step': r.step,
          'data-saved-step': r.savedStep,
          'data-total': r.totalSteps,
          'data-resumed-from': r.resumedFrom.join(','),
          'data-active': String(r.active),
          'data-resumable': String(r.resumable),
        },
      },
      h(
        'td',
        {},
        h('strong', { text: r.name }),
        h('br'),
        h('small', {
          class: 'muted',
          text: `${Number.isNaN(created.getTime()) ? '' : created.toLocaleString()}${r.legacy ? ' · from an earlier version' : ''}`,
        }),
      ),
      h('td', { testid: 'run-status', text: status }),
      h('td', { testid: 'run-steps', text: steps }),
      h('td', { class: 'muted', text: `${settingsLine(r)} · ${r.model.name}` }),
      h('td', { text: r.lastLoss !== undefined ? r.lastLoss.toFixed(4) : '–' }),
      h('td', { class: 'run-actions' }, resume, use, download, del),
      h('td', {}, tick),
    );
  }

  private async use(r: RunSummary): Promise<void> {
    const runs = await this.toasts.guard(`${r.name}'s adapter did not load`, () => this.api.useRun(r.id));
    if (!runs) return;
    this.render(runs);
    this.toasts.show(`${r.name}'s adapter is loaded: Compare and Download use it now.`, 'success');
    this.hooks.adapterLoaded(r);
  }

  private async download(r: RunSummary): Promise<void> {
    await this.toasts.guard(`${r.name}'s adapter could not be downloaded`, async () => {
      const out = await this.api.runAdapter(r.id);
      saveBytes(runFileName(r), out.zip, 'application/zip');
    });
  }

  private async remove(r: RunSummary): Promise<void> {
    const yes = await confirmDialog({
      title: `Delete ${r.name}?`,
      message: `Its settings, metrics, checkpoint and adapter are deleted from this browser. Other runs and downloaded files are not touched.`,
      confirm: `Delete ${r.name}`,
    });
    if (!yes) return;
    const runs = await this.toasts.guard(`${r.name} could not be deleted`, () => this.api.deleteRun(r.id));
    if (runs) this.render(runs);
  }

  private async metricsOf(r: RunSummary): Promise<RunMetrics> {
    const hit = this.metrics.get(r.id);
    if (hit && hit.updatedAt === r.updatedAt) return hit.m;
    const m = await this.api.runMetrics(r.id);
    this.metrics.set(r.id, { updatedAt: r.updatedAt, m });
    return m;
  }

  /** One loss chart and one margin chart, a line per ticked run (dashed: the noisy-image margin). */
  private async drawOverlay(): Promise<void> {
    const chosen = this.runs.filter((r) => this.overlay.has(r.id));
    const key = chosen.map((r) => `${r.id}@${r.updatedAt}`).join();
    if (this.overlayBox.dataset.key === key) return;
    this.overlayBox.dataset.key = key;
    const data = await Promise.all(chosen.map((r) => this.metricsOf(r)));
    if (this.overlayBox.dataset.key !== key) return; // a newer draw started
    for (const c of this.charts) c.destroy();
    this.charts = [];
    clear(this.overlayBox);
    this.overlayBox.dataset.runs = chosen.map((r) => r.number).join(',');
    this.overlayHint.hidden = chosen.length > 1;
    if (!chosen.length) return;
    const color = (i: number) => COLORS[i % COLORS.length];
    const loss = new LiveChart(
      'Loss by run',
      'overlay-loss',
      chosen.map((r, i) => ({ label: r.name, color: color(i) })),
    );
    const margins = new LiveChart(
      'Reward margins by run (solid: vs. injected text, dashed: vs. noisy image)',
      'overlay-margins',
      chosen.flatMap((r, i) => [
        { label: `${r.name}, text`, color: color(i) },
        { label: `${r.name}, noise`, color: color(i), dash: [6, 4] },
      ]),
    );
    data.forEach((m, i) => {
      for (const s of m.history) {
        const lossRow: (number | null)[] = chosen.map(() => null);
        lossRow[i] = s.loss;
        loss.set(s.step, lossRow);
        const marginRow: (number | null)[] = chosen.flatMap(() => [null, null]);
        marginRow[2 * i] = s.marginText;
        marginRow[2 * i + 1] = s.marginNoise;
        margins.set(s.step, marginRow);
      }
    });
    loss.el.dataset.series = String(chosen.length);
    margins.el.dataset.series = String(2 * chosen.length);
    this.charts = [loss, margins];
    this.overlayBox.append(loss.el, margins.el);
  }
}
