// The dependency rules of src/, checked on the real import graph (no GPU, no build):
//   (a) no import cycle among files;
//   (b) nothing under src/ imports from scripts/ or test/ (or names a file that does not exist);
//   (c) imports point down the layers: the page, the Worker, export / eval / povid, model,
//       engine, gpu, util (and the WGSL sources under shaders/ at the bottom).
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findCycle, importEdges, layerOf, layerViolations, toGraph } from './graph';

/**
 * From the top: the entry point (files directly in src/), the page, the Worker that orchestrates,
 * what it orchestrates (exports read what training and evaluation produce; evaluation runs
 * trained models on prepared examples; povid prepares and trains), the model files, the engine
 * (model/config builds its DecoderConfig), the GPU context and plain helpers.
 */
const LAYERS = ['', 'ui', 'worker', 'export', 'eval', 'povid', 'model', 'engine', 'gpu', 'util', 'shaders'];

// The benchmark is being moved out of src/ into its own top-level folder; until then it is not
// part of the app's graph.
const EXCLUDE = ['src/bench'];

const root = process.cwd();
const { files, edges, unresolved } = importEdges(root, 'src', EXCLUDE);

describe('the cycle finder', () => {
  it('finds a cycle in a small graph and none in a DAG', () => {
    const cyclic = new Map([
      ['a', ['b']],
      ['b', ['c', 'd']],
      ['c', []],
      ['d', ['e']],
      ['e', ['b']],
    ]);
    expect(findCycle(cyclic)).toEqual(['b', 'd', 'e', 'b']);
    expect(findCycle(new Map([['a', ['a']]]))).toEqual(['a', 'a']);
    const dag = new Map([
      ['a', ['b', 'c']],
      ['b', ['c']],
      ['c', []],
      ['d', ['a', 'c']],
    ]);
    expect(findCycle(dag)).toBeNull();
  });

  it('reports a cycle made of real import edges', () => {
    const g = toGraph(
      ['src/x/a.ts', 'src/x/b.ts'],
      [
        { from: 'src/x/a.ts', to: 'src/x/b.ts', spec: './b' },
        { from: 'src/x/b.ts', to: 'src/x/a.ts', spec: './a' },
      ],
    );
    expect(findCycle(g)).toEqual(['src/x/a.ts', 'src/x/b.ts', 'src/x/a.ts']);
  });

  it('flags an upward import and an unknown layer', () => {
    const v = layerViolations(
      [
        { from: 'src/engine/x.ts', to: 'src/model/y.ts', spec: '../model/y' },
        { from: 'src/model/y.ts', to: 'src/engine/x.ts', spec: '../engine/x' },
        { from: 'src/util/z.ts', to: 'scripts/w.ts', spec: '../../scripts/w' },
      ],
      LAYERS,
    );
    expect(v).toHaveLength(2);
    expect(v[0]).toContain('src/engine/x.ts -> src/model/y.ts');
    expect(v[1]).toContain('"scripts" is not in the layer list');
  });
});

describe('the import graph of src/', () => {
  it('is read from the sources', () => {
    // Guards against a parser that silently finds nothing.
    expect(files).toContain('src/worker/worker.ts');
    expect(edges.some((e) => e.from === 'src/worker/worker.ts' && e.to === 'src/worker/api.ts')).toBe(true);
    expect(edges.some((e) => e.to.startsWith('shaders/') && e.spec.endsWith('?raw'))).toBe(true);
    // The bench lives in bench/, outside the app's sources.
    expect(existsSync('src/bench')).toBe(false);
  });

  it('names only files that exist', () => {
    expect(unresolved.map((e) => `${e.from}: '${e.spec}'`)).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycle = findCycle(toGraph(files, edges));
    expect(cycle, cycle ? `import cycle: ${cycle.join(' -> ')}` : '').toBeNull();
  });

  it('never imports from scripts/ or test/', () => {
    const bad = edges.filter((e) => ['scripts', 'test'].includes(layerOf(e.to))).map((e) => `${e.from} -> ${e.to} ('${e.spec}')`);
    expect(bad).toEqual([]);
  });

  it('points down the layers', () => {
    expect(layerViolations(edges, LAYERS)).toEqual([]);
  });
});
