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

worker.addEventListener('error', (e) => {
  app.toasts.show(`${e.message || 'The Worker failed to start'}. Reload the page; if it keeps happening, check the browser console.`, 'error', 'The background worker stopped');
});
