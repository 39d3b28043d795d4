// The page: puts the components together and keeps the little state the page has (is a model
// loaded, what the dataset looks like, is training running). All real work is in the Worker.
import type { DatasetView, DropFile, ImageDetail, ModelSummary, PovidWorkerApi } from '../worker/api';
import { CompareView } from './compare';
import { Dashboard, type TrainState } from './dashboard';
import { DatasetTable } from './dataset-table';
import { completeView } from './dataset-view';
import { h } from './dom';
import { Downloads } from './downloads';
import { DropZone } from './drop-zone';
import { GpuCheck } from './gpu-check';
import { ModelPicker } from './model-picker';
import { RunsPanel } from './runs';
import { SessionPanel } from './session';
import { Settings } from './settings';
import { StatusBar } from './status-bar';
import { Toasts } from './toast';

export interface App {
  toasts: Toasts;
  /** Resolves once the WebGPU check has finished. */
  ready: Promise<void>;
  /** Report that the Worker could not start or crashed. */
  workerFailed(message: string): void;
}

function section(n: number, id: string, title: string, intro: string, ...body: HTMLElement[]): HTMLElement {
  return h(
    'section',
    { class: 'card', testid: `section-${id}`, attrs: { id, 'aria-labelledby': `${id}-title` } },
    h(
      'header',
      { class: 'card-head' },
      h('span', { class: 'step-no', text: String(n), attrs: { 'aria-hidden': 'true' } }),
      h('div', {}, h('h2', { text: title, attrs: { id: `${id}-title` } }), h('p', { class: 'muted', text: intro })),
    ),
    ...body,
  );
}

export function startApp(root: HTMLElement, api: PovidWorkerApi): App {
  const toasts = new Toasts();
  let model: ModelSummary | null = null;
  let gpuOk = false;
  let dataset: DatasetView = { records: [], problems: [] };
  let trainState: TrainState = 'idle';

  const gpu = new GpuCheck();
  // The image detail applies to generation too, so the Worker hears of it as soon as it changes.
  let appliedDetail: ImageDetail = 'single';
  const applyImageDetail = async (detail: ImageDetail) => {
    if (!model || detail === appliedDetail) return;
    try {
      await api.setImageDetail(detail);
      appliedDetail = detail;
    } catch (e) {
      toasts.error(e, 'The image detail could not be changed');
    }
  };
  // The table shows the train / held-out split that the current settings give; the estimate is
  // timed at the image detail the Worker runs, so it follows once the detail has been applied.
  const settings = new Settings((c) => {
    void refreshSplit(c);
    void applyImageDetail(c.imageDetail).then(() => dashboard.updateEstimate());
  });
  const refreshSplit = (c: { seed: number; heldoutFraction: number }) =>
    toasts.guard('Could not update the held-out records', async () =>
      table.render(await completeView(api, await api.datasetView({ seed: c.seed, heldoutFraction: c.heldoutFraction }))),
    );
  const compare = new CompareView(api, toasts, () => settings.read().noiseStep);
  const downloads = new Downloads(api, toasts, () => {
    toasts.show('Compare it with the base model in step 5.', 'info');
    void runs.refresh();
  });
  const session = new SessionPanel(api, toasts);
  const runs = new RunsPanel(api, toasts, {
    resume: (id) => dashboard.resumeRun(id),
    busy: () => trainState === 'training' || trainState === 'paused',
    adapterLoaded: () => undefined,
  });

  /** Enables what can run now; GPU work waits while training holds the Worker's GPU queue. */
  const sync = () => {
    const busy = trainState === 'training' || trainState === 'paused';
    const usable = model !== null && !busy;
    table.setModelReady(usable);
    compare.setReady(usable);
    downloads.setState({ model: usable, records: dataset.records.length, baseModel: model?.baseModel });
    settings.setDisabled(busy);
    picker.setLocked(busy);
    root.dataset.training = String(busy);
    dashboard.refresh();
    runs.refreshSoon();
    session.refreshSoon();
  };

  const table = new DatasetTable(
    api,
    (e, title) => toasts.error(e, title),
    (view) => {
      dataset = view;
      compare.setRecords(view.records);
      sync();
    },
    settings.read().seed,
  );

  const addFiles = async (files: DropFile[]) => {
    try {
      const before = dataset;
      const view = await completeView(api, await api.addFiles(files));
      table.render(view);
      const added = view.records.length - before.records.length;
      const found = view.problems.length - before.problems.length; // the Worker's list grows with each drop
      if (found > 0)
        toasts.show(
          `${found} new problem${found === 1 ? '' : 's'}: see the list above the table. ${added} record${added === 1 ? '' : 's'} added.`,
          'error',
          'Some files could not be used',
        );
      else if (added > 0) toasts.show(`${added} record${added === 1 ? '' : 's'} added.`, 'success');
      else toasts.show('No new records were added.', 'info');
    } catch (e) {
      toasts.error(e, 'The files could not be added');
      throw e;
    }
  };
  const drop = new DropZone(addFiles);
  const initial = settings.read();
  if (Number.isFinite(initial.seed) && Number.isFinite(initial.heldoutFraction)) void refreshSplit(initial);

  const picker = new ModelPicker(api, toasts, (summary) => {
    model = summary;
    settings.setImageTokens(summary.imageTokens);
    appliedDetail = 'single'; // a freshly loaded model starts with one view
    void applyImageDetail(settings.read().imageDetail);
    sync();
    void dashboard.checkCheckpoint();
    void runs.refresh();
    toasts.show(`${summary.name} is ready.`, 'success');
    // Records dropped before the model came are checked against its context now.
    void toasts.guard('Could not check the records against the model', async () => {
      const view = await completeView(api, await api.datasetView());
      table.render(view);
      const n = view.records.filter((r) => r.split === 'excluded').length;
      if (n > 0)
        toasts.show(
          `${n} record${n === 1 ? ' is' : 's are'} too long for ${summary.name}'s context and left out of training: see the problems above the table.`,
          'error',
          'Records too long',
        );
    });
  });

  const dashboard = new Dashboard(api, toasts, {
    config: () => settings.config(),
    blocker: () => {
      if (!gpuOk) return 'WebGPU is not available in this browser.';
      if (!model) return 'Load a model first.';
      if (!dataset.records.some((r) => r.split === 'train')) return 'Add at least one training record first.';
      return null;
    },
    describe: (id) => {
      const r = dataset.records.find((x) => x.id === id);
      return r ? `${r.image}: ${r.question}` : id || '–';
    },
    onState: (s) => {
      trainState = s;
      sync();
    },
    onStep: () => runs.refreshSoon(),
  });

  const statusBar = new StatusBar(dashboard, [
    { id: 'model', title: 'Model' },
    { id: 'data', title: 'Data' },
    { id: 'settings', title: 'Settings' },
    { id: 'train', title: 'Training' },
    { id: 'compare', title: 'Compare' },
    { id: 'download', title: 'Download' },
  ]);

  root.append(
    statusBar.el,
    h(
      'header',
      { class: 'page-head' },
      h(
        'div',
        {},
        h('h1', { text: 'POVID in the browser' }),
        h('p', {
          class: 'lede',
          text: 'Teach a small vision-language model to stop making things up about your images: preference fine-tuning of a LoRA adapter on WebGPU. Your images never leave this tab.',
        }),
      ),
      gpu.el,
    ),
    session.el,
    h(
      'main',
      { class: 'steps' },
      section(
        1,
        'model',
        'Model',
        'Start with the built-in tiny model to try the whole pipeline offline; switch to SmolVLM-256M for real results.',
        picker.el,
      ),
      section(
        2,
        'data',
        'Data',
        'Each record is an image, a question and a correct answer. A hallucinated answer is made from the correct one, and the image is noised to trigger the model’s own hallucinations.',
        drop.el,
        table.el,
      ),
      section(3, 'settings', 'Settings', 'Defaults suit a 256M model; every value is explained.', settings.el),
      section(
        4,
        'train',
        'Training',
        'Each step compares the correct answer with both hallucinations (DPO) and updates only the adapter.',
        dashboard.el,
        runs.el,
      ),
      section(5, 'compare', 'Compare', 'Ask the same question with the adapter off and on.', compare.el),
      section(6, 'download', 'Download', 'Take the adapter and the dataset with you.', downloads.el),
    ),
    h('footer', {
      class: 'page-foot muted',
      text: 'POVID: Zhou et al., “Aligning Modalities in Vision Large Language Models via Preference Fine-tuning”, 2024. Everything here runs locally.',
    }),
    toasts.el,
  );

  // A file dropped outside the drop zones must not replace the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer?.files.length) toasts.show('Drop files on the data area (step 2).', 'info');
  });
  window.addEventListener('unhandledrejection', (e) => toasts.error(e.reason, 'Unexpected error'));
  window.addEventListener('beforeunload', (e) => {
    if (trainState === 'training' || trainState === 'paused') e.preventDefault();
  });

  const ready = gpu.run(api).then((s) => {
    if (workerDead) return;
    gpuOk = s.ok;
    root.dataset.gpu = s.ok ? 'ok' : 'missing';
    dashboard.refresh();
    if (s.ok) void dashboard.checkCheckpoint();
  });
  // What this browser kept: the dataset and the runs now, the model once WebGPU is known to work.
  void session.restore().then(async (r) => {
    if (!r || workerDead) return;
    if (r.restored) table.render(r.dataset);
    runs.render(r.runs);
    if (r.latest) dashboard.showHistory(r.latest.metrics);
    await ready;
    void dashboard.checkCheckpoint();
    if (r.model && gpuOk && !model) await picker.restore(r.model);
  });
  let workerDead = false;
  const workerFailed = (message: string) => {
    if (workerDead) return;
    workerDead = true;
    gpuOk = false;
    root.dataset.gpu = 'error';
    gpu.workerFailed(message);
    dashboard.refresh();
    toasts.show(message, 'error', 'The background worker stopped');
  };
  return { toasts, ready, workerFailed };
}
