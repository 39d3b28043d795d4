// The kinds of edit the injector makes, and a candidate edit: one or more replacements that
// together make one plausible false statement (a number with the noun and verb that agree with it).

export type EditKind = 'object' | 'attribute' | 'count' | 'relation' | 'opposite' | 'color' | 'size' | 'material';

export const EDIT_KINDS: readonly EditKind[] = ['object', 'attribute', 'count', 'relation', 'opposite', 'color', 'size', 'material'];

/** A replacement of text[start, end) by `to`. */
export interface Part {
  start: number;
  end: number;
  to: string;
}

export interface Candidate {
  kind: EditKind;
  parts: Part[];
  /** Text no other chosen edit may touch (not changed by this one). */
  guard?: Part[];
}
