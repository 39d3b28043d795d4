// Shared types of the preference-data layer: what the importer returns and what the
// trainer, the table view and the exporter read.

/** One preference example: an image, a question and the preferred (ground-truth) answer. */
export interface PreferenceRecord {
  id: string;
  /** Key of the matched image in `ImportResult.images` (the file's base name). */
  image: string;
  /** The question with any `<image>` placeholder removed. */
  question: string;
  /** Preferred answer y_w. */
  chosen: string;
  /** Dispreferred answer supplied by the user; when present it wins over the injector. */
  rejected?: string;
  source: RecordSource;
  /**
   * Set for records cut out of a multi-turn LLaVA conversation. Rule: every human/gpt pair
   * becomes its own record and the earlier turns are dropped (POVID trains single-turn pairs;
   * the `<image>` placeholder sits in the first turn and is re-attached to every question).
   * `index` is 0-based, `count` is the number of pairs in the conversation.
   */
  turn?: { index: number; count: number };
}

export interface RecordSource {
  /** Relative path of the file the record came from (inside a zip: `archive.zip/inner/path`). */
  file: string;
  /** 1-based line where the record starts (JSONL, CSV, and JSON arrays). */
  line?: number;
  /** 0-based position of the record in its file (of the conversation, for multi-turn splits). */
  index: number;
}

export interface Problem {
  file: string;
  /** Record id or `line N` when the record has none. */
  record?: string;
  /** 1-based line in `file`, when known (problems are listed in line order). */
  line?: number;
  reason: string;
}

export interface ImportResult {
  records: PreferenceRecord[];
  /** Images referenced by the valid records, by `PreferenceRecord.image`. */
  images: Map<string, Blob>;
  problems: Problem[];
}

/** A file from a drop, a picker or a folder. */
export interface DatasetFile {
  /** Relative path (`webkitRelativePath` or the bare name). */
  name: string;
  blob: Blob;
}

/** Base class of every error of this layer; `file` names where the problem is. */
export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

/** A dataset file that cannot be parsed; carries the position when known. */
export class DatasetParseError extends DatasetError {
  override name = 'DatasetParseError';
  constructor(
    message: string,
    file: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message, file);
  }
}
