// UI FIXTURE: the real page (src/ui) driven by test/browser/fake-worker.ts instead of the engine.
import * as Comlink from 'comlink';
import { startApp } from '../../src/ui/app';
import '../../src/ui/style.css';
import type { PovidWorkerApi } from '../../src/worker/api';

const worker = new Worker(new URL('./fake-worker.ts', import.meta.url), { type: 'module' });
startApp(document.getElementById('app')!, Comlink.wrap<PovidWorkerApi>(worker) as unknown as PovidWorkerApi);
