// The saved session's logic in Node, on the in-memory backend: what a reload brings back, what
// an older or newer save loads (and what it says it dropped), and what a full quota keeps.
import { describe, expect, it } from 'vitest';
import { StorageQuotaError, type Checkpoint } from '../../src/povid/checkpoint';
import { DEFAULT_TRAIN_CONFIG, type StepMetrics } from '../../src/worker/api';
import { DatasetStore, type StoredRecord } from '../../src/worker/dataset-store';
import { SessionKeeper, type LegacySource } from '../../src/worker/persist';
import { RunBook, runFromLegacyCheckpoint } from '../../src/worker/runs';
import { parseRecord, referenceKey, SESSION_SCHEMA, SessionStore } from '../../src/worker/session-store';
import { MemoryBackend, sizeOf } from '../../src/worker/storage';

function rec(id: string, image: string, extra: Partial<StoredRecord> = {}): StoredRecord {
  return {
    id,
    image,
    question: `What is in ${image}?`,
    chosen: 'A red ball on a table.',
    rejectedText: 'A green ball on a table.',
    rejectedSource: 'injected',
    edits: [{ kind: 'attribute', start: 2, end: 7, from: 'red', to: 'green' }],
    source: { file: 'qa.jsonl', line: 1, index: 0 },
    ...extra,
  };
}

const png = (n: number) => new Blob([new Uint8Array(n).fill(7)], { type: 'image/png' });

function dataset(records: StoredRecord[], images: [string, Blob][]) {
  return {
    records: new Map(records.map((r) => [r.id, r])),
    images: new Map(images),
    problems: [{ file: 'bad.json', reason: 'line 3: not JSON' }],
  };
}

const step = (n: number, total: number, loss = 0.69 - n * 0.01): StepMetrics => ({
  step: n,
  totalSteps: total,
  epoch: n / 4,
  loss,
  rewardChosen: 0,
  rewardText: 0,
  rewardNoise: 0,
  marginText: 0.01 * n,
  marginNoise: 0.02 * n,
  accuracy: 0.5,
  gradNorm: 1,
  learningRate: 1e-5,
  tokensPerSecond: 10,
  etaSeconds: 1,
  exampleId: 'a',
  ms: { reference: 0, noisy: 0, forward: 0, backward: 0, optimizer: 0 },
});

const cp = (step: number, total: number, history: StepMetrics[], value = step): Checkpoint => ({
  runId: 'x',
  step,
  microStep: step,
  totalSteps: total,
  config: DEFAULT_TRAIN_CONFIG,
  datasetKey: 'd1',
  params: new Float32Array([value, value + 0.5]),
  adamM: new Float32Array(2).fill(0.1),
  adamV: new Float32Array(2).fill(0.2),
  rngState: new Uint32Array(4),
  history,
  savedAt: '2025-01-01T00:00:00Z',
});

const adapter = (v: number) => ({
  'adapter_config.json': new TextEncoder().encode('{"r":4}'),
  'adapter_model.safetensors': new Uint8Array([v, v, v]),
});

describe('saved dataset', () => {
  it('brings back records in order, images, problems and the model, and writes only what changed', async () => {
    const db = new MemoryBackend();
    const a = new SessionStore(db);
    const d = dataset(
      [rec('b', '2.png'), rec('a', '1.png', { noisyAnswer: 'a blur' }), rec('c', '1.png')],
      [
        ['1.png', png(10)],
        ['2.png', png(20)],
        ['unused.png', png(5)],
      ],
    );
    await a.saveModel({ kind: 'builtin' });
    await a.saveDataset(d);
    const writes = db.writes;
    await a.saveDataset(d); // nothing changed: only the meta entry
    expect(db.writes - writes).toBe(1);
    d.records.set('a', { ...d.records.get('a')!, chosen: 'A blue ball.' });
    await a.saveDataset(d);
    expect((await db.get('records', 'a')) as { record: StoredRecord }).toMatchObject({ record: { chosen: 'A blue ball.' } });
    expect(await db.keys('images')).toEqual(['2.png', '1.png']); // the image no record uses is not stored

    const back = await new SessionStore(db).restore();
    expect(back.found).toBe(true);
    expect(back.dropped).toEqual([]);
    expect(back.model).toEqual({ kind: 'builtin' });
    expect(back.records.map((r) => r.id)).toEqual(['b', 'a', 'c']);
    expect(back.records[1]).toEqual({ ...d.records.get('a') });
    expect([...back.images.keys()].sort()).toEqual(['1.png', '2.png']);
    expect(back.images.get('2.png')!.size).toBe(20);
    expect(back.problems).toEqual(d.problems);
  });

  it('deletes removed records and stores a local folder by name only', async () => {
    const db = new MemoryBackend();
    const s = new SessionStore(db);
    const d = dataset(
      [rec('a', '1.png'), rec('b', '2.png')],
      [
        ['1.png', png(1)],
        ['2.png', png(2)],
      ],
    );
    await s.saveDataset(d);
    d.records.delete('b');
    await s.saveModel({ kind: 'files', files: [{ path: 'm/config.json', blob: png(3) }] }, 'local folder m');
    await s.saveDataset(d);
    expect(await db.keys('records')).toEqual(['a']);
    expect(await db.keys('images')).toEqual(['1.png']);
    expect((await new SessionStore(db).restore()).model).toEqual({ kind: 'files', name: 'local folder m' });
  });

  it('an empty store restores nothing and says nothing', async () => {
    const back = await new SessionStore(new MemoryBackend()).restore();
    expect(back).toMatchObject({ found: false, records: [], dropped: [], reinject: [] });
  });
});

describe('saved sessions from other versions', () => {
  it('an older save: compatible records load, the rest is named as dropped', async () => {
    const db = new MemoryBackend();
    await db.put('meta', [
      ['session', { schema: 1, problems: 'not a list', model: { kind: 'hub', id: 'HuggingFaceTB/SmolVLM-256M-Instruct' } }],
    ]);
    await db.put('images', [
      ['1.png', png(4)],
      ['2.png', 'not a blob'],
    ]);
    await db.put('records', [
      // schema 1 records had no rejectedText/edits: the injector makes them again
      ['old', { seq: 0, record: { id: 'old', image: '1.png', question: 'Q?', chosen: 'A cat.' } }],
      ['mine', { seq: 1, record: { id: 'mine', image: '1.png', question: 'Q?', chosen: 'A cat.', rejected: 'A dog.' } }],
      ['broken', { seq: 2, record: { id: 'broken', image: '1.png', question: 'Q?' } }],
      ['lost', { seq: 3, record: rec('lost', '2.png') }],
    ]);
    const back = await new SessionStore(db).restore();
    expect(back.records.map((r) => r.id)).toEqual(['old', 'mine']);
    expect(back.reinject).toEqual(['old']);
    expect(back.records[1]).toMatchObject({ rejectedText: 'A dog.', rejectedSource: 'user' });
    expect(back.model).toEqual({ kind: 'hub', id: 'HuggingFaceTB/SmolVLM-256M-Instruct' });
    const said = back.dropped.join('\n');
    expect(said).toMatch(/older version of this app \(schema 1; this one reads 2\)/);
    expect(said).toMatch(/1 saved image could not be read \(2\.png\)/);
    expect(said).toMatch(/1 saved record could not be read and was dropped: "broken" \(no chosen\)/);
    expect(said).toMatch(/"lost" \(2\.png\)/);
    expect(said).toMatch(/injector made it again/);
  });

  it('a newer save: what this version reads loads, and the next save rewrites it in this schema', async () => {
    const db = new MemoryBackend();
    await db.put('meta', [['session', { schema: 99, problems: [], model: { kind: 'quantum' }, futureField: 1 }]]);
    await db.put('images', [['1.png', png(4)]]);
    await db.put('records', [['a', { seq: 0, record: { ...rec('a', '1.png'), futureField: { x: 1 } } }]]);
    const s = new SessionStore(db);
    const back = await s.restore();
    expect(back.records.map((r) => r.id)).toEqual(['a']);
    expect(back.records[0]).not.toHaveProperty('futureField');
    expect(back.model).toBeUndefined();
    expect(back.dropped.join('\n')).toMatch(/newer version of this app \(schema 99; this one reads 2\)/);
    expect(back.dropped.join('\n')).toMatch(/model choice could not be read/);
    await s.saveDataset(dataset(back.records, [...back.images]));
    expect(((await db.get('meta', 'session')) as { schema: number }).schema).toBe(SESSION_SCHEMA);
    expect((await db.get('records', 'a')) as { record: object }).not.toHaveProperty('record.futureField');
  });

  it('parseRecord keeps a user answer over an injected one and names what is missing', () => {
    expect(parseRecord({ id: 'x', image: 'i', question: 'q', chosen: '' }, 0)).toEqual({ reason: 'no chosen' });
    expect(parseRecord(null, 0)).toEqual({ reason: 'not a record' });
    const ok = parseRecord({ ...rec('x', 'i'), edits: [{ kind: 1 }, rec('x', 'i').edits[0]] }, 0);
    expect('record' in ok && ok.record.edits).toHaveLength(1);
  });

  it('imports the single checkpoint of the earlier version as a run', async () => {
    const old = {
      ...cp(3, 10, [step(1, 10), step(2, 10), step(3, 10)]),
      config: { ...DEFAULT_TRAIN_CONFIG, steps: 10, removedSetting: true },
    };
    const got = runFromLegacyCheckpoint(old, 1, 'now');
    expect('run' in got && got.run).toMatchObject({ status: 'interrupted', savedStep: 3, totalSteps: 10, legacy: true, datasetKey: 'd1' });
    expect('run' in got && got.run.history.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(runFromLegacyCheckpoint({ step: 1 }, 1, 'now')).toEqual({ reason: 'its adapter state cannot be read' });
    expect(runFromLegacyCheckpoint({ ...old, config: { loraRank: 'sixteen' } }, 1, 'now')).toEqual({
      reason: 'its settings cannot be read',
    });
  });

  it('the Worker-side restore fills the dataset, re-injects, imports the old checkpoint once and never throws', async () => {
    const db = new MemoryBackend();
    await db.put('meta', [['session', { schema: 1, problems: [] }]]);
    await db.put('images', [['1.png', png(4)]]);
    await db.put('records', [
      ['old', { seq: 0, record: { id: 'old', image: '1.png', question: 'What colour is the ball?', chosen: 'The ball is red.' } }],
    ]);
    await db.put('runs', [['junk', { id: 7 }]]);
    let legacyRemoved = 0;
    const legacy: LegacySource = {
      read: async () => (legacyRemoved ? null : cp(2, 4, [step(1, 4), step(2, 4)])),
      remove: async () => void legacyRemoved++,
    };
    const keeper = new SessionKeeper(db, legacy);
    const ds = new DatasetStore({ seed: 42, strength: 0.5, heldoutFraction: 0 });
    const got = await keeper.restore(ds, () => ({ datasetKey: ds.key() }));
    expect(got.restored).toBe(true);
    expect(got.dataset.records).toHaveLength(1);
    expect(got.dataset.records[0].rejected).not.toBe('');
    expect(got.dataset.records[0].rejected).not.toBe(got.dataset.records[0].chosen);
    expect(got.runs).toHaveLength(1);
    expect(got.runs[0]).toMatchObject({ legacy: true, savedStep: 2, resumable: false });
    expect(got.runs[0].resumeBlocker).toMatch(/load the model/);
    expect(got.latest?.metrics.history).toHaveLength(2);
    expect(legacyRemoved).toBe(1);
    const said = got.dropped.join('\n');
    expect(said).toMatch(/earlier version of this app \(step 2 of 4\) is now run 1/);
    expect(said).toMatch(/1 saved run could not be read and was dropped: "junk"/);

    // A store that cannot be read at all still gives a page, and says why.
    const broken = new MemoryBackend();
    broken.entries = async () => {
      throw new Error('disk on fire');
    };
    const k2 = new SessionKeeper(broken);
    const got2 = await k2.restore(new DatasetStore({ seed: 1, strength: 0.5, heldoutFraction: 0 }), () => ({ datasetKey: '' }));
    expect(got2.dataset.records).toEqual([]);
    expect(got2.dropped.join('\n')).toMatch(/saved records could not be read \(disk on fire\)/);
  });
});

describe('a full quota', () => {
  it('keeps what fits, names the images that did not, and the records come back without them', async () => {
    const db = new MemoryBackend(3000);
    const s = new SessionStore(db);
    const d = dataset(
      [rec('a', 'small.png'), rec('b', 'big.png'), rec('c', 'big.png')],
      [
        ['small.png', png(200)],
        ['big.png', png(5000)],
      ],
    );
    await s.saveDataset(d);
    const report = await s.report({
      records: [...d.records.values()].map((r) => ({ ...r, rejected: r.rejectedText, split: 'train' as const })),
      problems: [],
    });
    expect(report.saved).toMatchObject({ records: 3, images: 1 });
    expect(report.total).toMatchObject({ records: 3, images: 2 });
    expect(report.notSaved).toHaveLength(1);
    expect(report.notSaved[0]).toMatch(/1 image of 2 could not be stored \(big\.png\)/);
    expect(report.notSaved[0]).toMatch(
      /The 2 records using it will not come back after a reload; everything works until then, training included/,
    );
    const back = await new SessionStore(db).restore();
    expect(back.records.map((r) => r.id)).toEqual(['a']);
    expect(back.dropped.join('\n')).toMatch(/2 saved records came back without their images .*"b" \(big\.png\), "c" \(big\.png\)/);
  });

  it('stores records before images, as many as fit one by one when a batch does not', async () => {
    const recs = [rec('a', '1.png'), rec('b', '2.png'), rec('c', '3.png')];
    const one = sizeOf({ seq: 0, record: recs[0] });
    const db = new MemoryBackend(2 * one + 10);
    const s = new SessionStore(db);
    await s.saveDataset(
      dataset(recs, [
        ['1.png', png(100)],
        ['2.png', png(100)],
        ['3.png', png(100)],
      ]),
    );
    expect(await db.keys('records')).toEqual(['a', 'b']);
    expect(await db.keys('images')).toEqual([]);
    const said = (await s.report()).notSaved.join('\n');
    expect(said).toMatch(/3 images of 3 could not be stored \(1\.png, 2\.png, 3\.png\)/);
    expect(said).toMatch(/1 record of 3 could not be stored \(c\)/);
    // Room again (the user freed space): the next save stores what was missing.
    db.quotaBytes = Infinity;
    await s.saveDataset(
      dataset(recs, [
        ['1.png', png(100)],
        ['2.png', png(100)],
        ['3.png', png(100)],
      ]),
    );
    expect((await s.report()).notSaved).toEqual([]);
    expect((await new SessionStore(db).restore()).records.map((r) => r.id)).toEqual(['a', 'b', 'c']);
  });

  it("gives up cached features (they can be computed again) to keep the user's images", async () => {
    const db = new MemoryBackend(6000);
    const s = new SessionStore(db);
    await s.saveFeatures('m', [['x.png', png(1), new Float32Array(1000)]]); // 4000 bytes
    expect(await db.keys('features')).toHaveLength(1);
    await s.saveDataset(dataset([rec('a', 'a.png')], [['a.png', png(3000)]]));
    const report = await s.report();
    expect(await db.keys('images')).toEqual(['a.png']);
    expect(await db.keys('features')).toEqual([]);
    expect(report.notSaved.join('\n')).toMatch(/Cached image features \(1\) were deleted to make room for your images/);
    // Features that do not fit are skipped and said; nothing throws.
    await s.saveFeatures('m', [['a.png', png(3000), new Float32Array(2000)]]);
    expect((await s.report()).notSaved.join('\n')).toMatch(
      /Image features of 1 image could not be stored: after a reload they are computed again/,
    );
  });

  it("a run's checkpoint that does not fit keeps the last good one; training carries on (StorageQuotaError)", async () => {
    const db = new MemoryBackend();
    const book = new RunBook(db);
    const run = await book.create({
      config: { ...DEFAULT_TRAIN_CONFIG, steps: 4 },
      model: { name: 'tiny', baseModel: 'b', key: 'k' },
      datasetKey: 'd1',
      trainRecords: 2,
      totalSteps: 4,
    });
    const store = book.checkpointStore(run.id, () => adapter(1));
    await store.save(cp(1, 4, [step(1, 4)]));
    db.quotaBytes = db.usage - 1; // the disk filled up since (another tab, another site)
    await expect(store.save(cp(2, 4, [step(1, 4), step(2, 4)]))).rejects.toThrow(StorageQuotaError);
    const kept = await store.load();
    expect(kept!.step).toBe(1);
    expect(Array.from(kept!.params)).toEqual([1, 1.5]);
    expect(book.notSaved().join('\n')).toMatch(
      /Run 1: its checkpoint at step 2 could not be stored \(the storage is full\); the one at step 1 is kept/,
    );
  });

  it('references: stored per model and texts, a changed answer is a different key', async () => {
    const s = new SessionStore(new MemoryBackend());
    const r = rec('a', '1.png');
    const k = referenceKey('m1', r, png(3));
    await s.saveReference(k, { chosen: -12.5, rejected: -14.25 });
    expect(await s.loadReference(k)).toEqual({ chosen: -12.5, rejected: -14.25 });
    expect(referenceKey('m2', r, png(3))).not.toBe(k);
    expect(referenceKey('m1', { ...r, rejectedText: 'A blue ball on a table.' }, png(3))).not.toBe(k);
    expect(referenceKey('m1', r, png(4))).not.toBe(k);
    expect(await s.loadReference(referenceKey('m2', r, png(3)))).toBeUndefined();
  });
});

describe('runs', () => {
  const model = { name: 'tiny', baseModel: 'povid-webgpu/builtin-tiny', key: 'k1' };

  it('a new run never overwrites an old one; each keeps its metrics and adapter', async () => {
    const db = new MemoryBackend();
    const book = new RunBook(db);
    const r1 = await book.create({
      config: { ...DEFAULT_TRAIN_CONFIG, steps: 2 },
      model,
      datasetKey: 'd1',
      trainRecords: 2,
      totalSteps: 2,
    });
    book.step(r1.id, step(1, 2));
    book.step(r1.id, step(2, 2));
    await book.finish(r1.id, 'done', adapter(1), 2);
    const r2 = await book.create({
      config: { ...DEFAULT_TRAIN_CONFIG, steps: 2, learningRate: 1e-3 },
      model,
      datasetKey: 'd1',
      trainRecords: 2,
      totalSteps: 2,
    });
    book.step(r2.id, step(1, 2, 0.5));
    await book.finish(r2.id, 'cancelled', adapter(2), 1);
    expect(r2.id).not.toBe(r1.id);

    const again = new RunBook(db);
    await again.restore();
    const list = await again.summaries({ datasetKey: 'd1', modelKey: 'k1', activeRun: r2.id });
    expect(list.map((r) => [r.name, r.status, r.step, r.hasAdapter, r.active])).toEqual([
      ['Run 1', 'done', 2, true, false],
      ['Run 2', 'cancelled', 1, true, true],
    ]);
    expect(list[1].config.learningRate).toBe(1e-3);
    expect(Array.from((await again.adapter(r1.id))!['adapter_model.safetensors'])).toEqual([1, 1, 1]);
    expect(Array.from((await again.adapter(r2.id))!['adapter_model.safetensors'])).toEqual([2, 2, 2]);
    expect(again.metrics(r1.id).history.map((m) => m.step)).toEqual([1, 2]);
    // Finished: the optimizer state is gone, the adapter stays.
    expect(await again.checkpoint(r1.id)).toBeNull();

    await again.delete(r1.id);
    expect(await db.keys('runs')).toEqual([r2.id]);
    expect(await db.keys('adapters')).toEqual([r2.id]);
    const r3 = await again.create({ config: DEFAULT_TRAIN_CONFIG, model, datasetKey: 'd1', trainRecords: 2, totalSteps: 2 });
    expect(r3.number).toBe(3); // numbers are never reused
  });

  it('a run cut off by a reload resumes from its checkpoint, and says why when it cannot', async () => {
    const db = new MemoryBackend();
    const book = new RunBook(db);
    const run = await book.create({
      config: { ...DEFAULT_TRAIN_CONFIG, steps: 4 },
      model,
      datasetKey: 'd1',
      trainRecords: 2,
      totalSteps: 4,
    });
    const store = book.checkpointStore(run.id, (p) => adapter(p[0]));
    book.step(run.id, step(1, 4));
    await store.save(cp(1, 4, [step(1, 4)]));
    book.step(run.id, step(2, 4));
    await store.save(cp(2, 4, [step(1, 4), step(2, 4)]));
    book.step(run.id, step(3, 4)); // the page went away during step 3's checkpoint

    const after = new RunBook(db);
    await after.restore();
    const [s] = await after.summaries({ datasetKey: 'd1', modelKey: 'k1' });
    expect(s).toMatchObject({ status: 'interrupted', savedStep: 2, step: 2, resumable: true, resumeBlocker: null, hasAdapter: true });
    expect(Array.from((await after.adapter(run.id))!['adapter_model.safetensors'])).toEqual([2, 2, 2]);
    const { checkpoint } = await after.resumePoint(run.id, { datasetKey: 'd1', modelKey: 'k1' });
    expect(checkpoint).toMatchObject({ step: 2, datasetKey: 'd1', totalSteps: 4 });
    expect(checkpoint.history.map((m: unknown) => (m as StepMetrics).step)).toEqual([1, 2]);
    await after.resumed(run.id, 2);
    expect((await after.summaries({ datasetKey: 'd1', modelKey: 'k1' }))[0].resumedFrom).toEqual([2]);

    const why = async (ctx: { datasetKey: string; modelKey?: string }) => (await after.summaries(ctx))[0].resumeBlocker;
    expect(await why({ datasetKey: 'd1' })).toMatch(/load the model it was trained on first \(tiny\)/);
    expect(await why({ datasetKey: 'd1', modelKey: 'other' })).toMatch(/trained on tiny: load that model/);
    expect(await why({ datasetKey: 'd2', modelKey: 'k1' })).toMatch(/records changed since it was saved/);
    await expect(after.resumePoint(run.id, { datasetKey: 'd2', modelKey: 'k1' })).rejects.toThrow(
      /Run 1 cannot be resumed: the records changed/,
    );
  });
});
