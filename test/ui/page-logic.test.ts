// The page's pure pieces, in Node: counts with their nouns, the software-rasteriser check, the
// Compare picker's short list, and reading a large dataset view slice by slice.
import { describe, expect, it } from 'vitest';
import { MAX_RECORD_OPTIONS, recordOptions } from '../../src/ui/compare';
import { completeView } from '../../src/ui/dataset-view';
import { plural } from '../../src/ui/dom';
import { softwareRenderer } from '../../src/gpu/software';
import { softwareNote } from '../../src/ui/gpu-check';
import { StaleViewError, type DatasetView, type RecordView } from '../../src/worker/api';

const rec = (i: number, split: RecordView['split'] = 'train'): RecordView => ({
  id: `r${i}`,
  image: `${i}.png`,
  question: 'q',
  chosen: 'a',
  rejected: 'b',
  rejectedSource: 'injected',
  edits: [],
  split,
});

describe('page logic', () => {
  it('plural: 1 file, 2 files, 20,000 records', () => {
    expect(plural(1, 'file')).toBe('1 file');
    expect(plural(0, 'file')).toBe('0 files');
    expect(plural(2, 'file')).toBe('2 files');
    expect(plural(20000, 'record')).toBe('20,000 records');
    expect(plural(3, 'child', 'children')).toBe('3 children');
  });

  it('recognises software rasterisers from the adapter info', () => {
    expect(softwareRenderer({ vendor: 'google', architecture: 'swiftshader', description: '' })).toBe('SwiftShader');
    expect(softwareRenderer({ vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.7, 256 bits)' })).toBe('llvmpipe');
    expect(softwareRenderer({ vendor: 'microsoft', architecture: '', description: 'Microsoft Basic Render Driver' })).toBe('WARP');
    expect(softwareRenderer({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA GeForce RTX 3060' })).toBeNull();
    expect(softwareRenderer({ vendor: 'apple', architecture: 'metal-3', description: '' })).toBeNull();
    expect(softwareRenderer(undefined)).toBeNull();
    expect(softwareNote('SwiftShader')).toMatch(/^WebGPU runs on SwiftShader, a software rasteriser on the CPU/);
  });

  it('lists at most MAX_RECORD_OPTIONS records in the Compare picker, held-out ones first, plus the chosen one', () => {
    const few = Array.from({ length: 5 }, (_, i) => rec(i));
    expect(recordOptions(few, '')).toBe(few);
    const many = Array.from({ length: 20_000 }, (_, i) => rec(i, i % 50 === 7 ? 'heldout' : 'train'));
    const listed = recordOptions(many, 'r19999');
    expect(listed).toHaveLength(MAX_RECORD_OPTIONS + 1);
    expect(listed.slice(0, MAX_RECORD_OPTIONS).every((r) => r.split === 'heldout')).toBe(true);
    expect(listed[MAX_RECORD_OPTIONS].id).toBe('r19999');
    const fewHeld = Array.from({ length: 500 }, (_, i) => rec(i, i < 3 ? 'heldout' : 'train'));
    expect(
      recordOptions(fewHeld, '')
        .map((r) => r.id)
        .slice(0, 5),
    ).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(recordOptions(fewHeld, 'r2')).toHaveLength(MAX_RECORD_OPTIONS);
  });

  it('completeView reads the records a view left out, and starts again when they changed meanwhile', async () => {
    let version = 1;
    let all = Array.from({ length: 2500 }, (_, i) => rec(i));
    const calls: [number, number][] = [];
    const api = {
      async recordsSlice(start: number, end: number, v: number) {
        calls.push([start, end]);
        if (calls.length === 2) {
          // Another drop lands while the view is read.
          version = 2;
          all = Array.from({ length: 2600 }, (_, i) => rec(i));
        }
        if (v !== version) throw new StaleViewError(`stale ${v}`);
        return all.slice(start, end);
      },
      async datasetView(): Promise<DatasetView> {
        return { records: all.slice(0, 1000), problems: [], total: all.length, version };
      },
    };
    const head: DatasetView = { records: all.slice(0, 1000), problems: [{ file: 'x', reason: 'y' }], total: 2500, version: 1 };
    const full = await completeView(api, head);
    expect(full.records.map((r) => r.id)).toEqual(Array.from({ length: 2600 }, (_, i) => `r${i}`));
    expect(calls[0]).toEqual([1000, 2000]);
    expect(calls.length).toBe(4); // 2 of the first view (the second is stale), then 2 of the new one
    const small: DatasetView = { records: [rec(1)], problems: [] };
    expect(await completeView(api, small)).toBe(small);
  });
});
