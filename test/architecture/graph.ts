// The import graph of src/: every import, export-from and import() of a relative path (shader
// `?raw` imports included), resolved to files. Package imports (no leading dot) are not edges.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  from: string; // repository-relative path, '/'-separated
  to: string; // repository-relative path of the resolved file
  spec: string; // as written in the source
}

export type Graph = ReadonlyMap<string, readonly string[]>;

const toPosix = (p: string) => p.split(sep).join('/');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** The file an import specifier names: as written (shaders, assets), or with .ts / index.ts. */
function resolveSpec(root: string, fromFile: string, spec: string): string | null {
  const base = resolve(root, dirname(fromFile), spec.replace(/\?.*$/, ''));
  for (const p of [base, `${base}.ts`, join(base, 'index.ts')])
    if (existsSync(p) && statSync(p).isFile()) return toPosix(relative(root, p));
  return null;
}

/**
 * Every relative import of every .ts file under `dir` (relative to `root`), except files under
 * the `exclude` folders. An import that names no file is returned in `unresolved`.
 */
export function importEdges(
  root: string,
  dir = 'src',
  exclude: readonly string[] = [],
): { files: string[]; edges: ImportEdge[]; unresolved: ImportEdge[] } {
  const skip = (f: string) => exclude.some((e) => f === e || f.startsWith(`${e}/`));
  const files = walk(join(root, dir))
    .map((p) => toPosix(relative(root, p)))
    .filter((f) => f.endsWith('.ts') && !skip(f))
    .sort();
  const edges: ImportEdge[] = [];
  const unresolved: ImportEdge[] = [];
  for (const from of files) {
    const text = readFileSync(join(root, from), 'utf8');
    for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!spec.startsWith('.')) continue; // a package
      const to = resolveSpec(root, from, spec);
      if (to) edges.push({ from, to, spec });
      else unresolved.push({ from, to: spec, spec });
    }
  }
  return { files, edges, unresolved };
}

export function toGraph(files: readonly string[], edges: readonly ImportEdge[]): Map<string, string[]> {
  const g = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) g.get(e.from)?.push(e.to);
  return g;
}

/**
 * One cycle of the graph as a path [a, b, ..., a], or null when it has none. Depth-first search
 * with three colours: reaching a node that is still on the stack closes a cycle.
 */
export function findCycle(graph: Graph): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (s === undefined) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of [...graph.keys()].sort()) {
    if (state.has(node)) continue;
    const found = visit(node);
    if (found) return found;
  }
  return null;
}

/**
 * The layer of a file under src/: its first folder ('' for files directly in src/, such as the
 * entry point), or the top folder for files outside src/ (shaders, scripts, test).
 */
export function layerOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] !== 'src') return parts[0];
  return parts.length > 2 ? parts[1] : '';
}

/**
 * Edges that break the layering: `ranking` lists the layers from the top; an import may go to
 * its own layer or to one further down the list. A layer missing from the list is reported too.
 */
export function layerViolations(edges: readonly ImportEdge[], ranking: readonly string[]): string[] {
  const rank = new Map(ranking.map((l, i) => [l, i]));
  const out: string[] = [];
  for (const e of edges) {
    const from = layerOf(e.from);
    const to = layerOf(e.to);
    if (from === to) continue;
    const rf = rank.get(from);
    const rt = rank.get(to);
    if (rf === undefined || rt === undefined)
      out.push(`${e.from} -> ${e.to} ('${e.spec}'): layer "${rf === undefined ? from : to}" is not in the layer list`);
    else if (rt < rf)
      out.push(`${e.from} -> ${e.to} ('${e.spec}'): ${from || 'src/'} may not import from ${to || 'src/'}, which sits above it`);
  }
  return out;
}
