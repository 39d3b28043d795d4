// A large dataset view comes from the Worker in slices (api.ts: DatasetView.total), each its own
// message, so the page deserializes about a thousand records per task instead of all at once.
import type { DatasetView, PovidWorkerApi, RecordView } from '../worker/api';

type Api = Pick<PovidWorkerApi, 'recordsSlice' | 'datasetView'>;

const MAX_RETRIES = 5;

/** The whole view: `view` plus the records it left out, read slice by slice. */
export async function completeView(api: Api, view: DatasetView): Promise<DatasetView> {
  for (let attempt = 0; ; attempt++) {
    const total = view.total ?? view.records.length;
    if (view.records.length >= total) return view;
    const step = Math.max(1, view.records.length);
    const records: RecordView[] = view.records.slice();
    try {
      while (records.length < total) {
        const part = await api.recordsSlice(records.length, Math.min(total, records.length + step), view.version ?? 0);
        if (part.length === 0) break;
        for (const r of part) records.push(r);
      }
      return { ...view, records };
    } catch (e) {
      // The records changed while being read (another drop or edit): read the new view.
      if (!(e instanceof Error && e.name === 'StaleViewError') || attempt >= MAX_RETRIES) throw e;
      view = await api.datasetView();
    }
  }
}
