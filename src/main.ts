// Entry point of the demo page: start the Worker (it owns the GPU, the model and the data) and
// hand its comlink proxy to the page.
import * as Comlink from 'comlink';
import { startApp } from './ui/app';
import './ui/style.css';
import type { PovidWorkerApi } from './worker/api';

const root = document.getElementById('app');
if (!root) throw new Error('index.html has no #app element');

const worker = new Worker(new URL('./worker/worker.ts', import.meta.url), { type: 'module' });
// Comlink's Remote<T> differs from T only in how callbacks are typed; they go through Comlink.proxy.
const api = Comlink.wrap<PovidWorkerApi>(worker) as unknown as PovidWorkerApi;
const app = startApp(root, api);

// A module Worker that fails to load or throws at the top level reports here (a plain Event when
// the script itself could not be fetched or parsed).
worker.addEventListener('error', (e) => {
  e.preventDefault();
  app.workerFailed(e instanceof ErrorEvent && e.message ? e.message : 'The worker script could not be loaded.');
});
worker.addEventListener('messageerror', () => app.toasts.show('A message from the worker could not be read.', 'error'));
