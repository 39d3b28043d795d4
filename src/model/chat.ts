// Prompt rendering: the model's own Jinja chat template (tokenizer_config.json / chat_template.json)
// and the Idefics3 processor's image-token expansion
// (transformers/models/idefics3/processing_idefics3.py), single views and tiled images alike.
import { Template } from '@huggingface/jinja';

export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}

/** A question or answer the prompt format cannot carry. */
export class PromptError extends Error {
  override name = 'PromptError';
}

/** One turn of a conversation; `image` puts the image placeholder before the text (user turns). */
export interface ChatTurn {
  role: 'user' | 'assistant' | 'system';
  text: string;
  image?: boolean;
}

/** The processor's image tokens. */
export const IMAGE_TOKEN = '<image>';
export const FAKE_IMAGE_TOKEN = '<fake_token_around_image>';
export const GLOBAL_IMAGE_TOKEN = '<global-img>';
export const END_OF_UTTERANCE = '<end_of_utterance>';

type ContentItem = { type: 'image' } | { type: 'text'; text: string };

/** A compiled chat template plus the special-token strings templates may refer to. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    private readonly specials: Record<string, string> = {},
  ) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new ChatTemplateError(
        `the chat template does not parse (${(e as Error).message}); check chat_template.json or tokenizer_config.json's "chat_template"`,
      );
    }
  }

  /** Renders turns as the hub processor's apply_chat_template does (content as a list of items). */
  render(turns: readonly ChatTurn[], addGenerationPrompt: boolean): string {
    const messages = turns.map((t) => {
      const content: ContentItem[] = [];
      if (t.image) content.push({ type: 'image' });
      content.push({ type: 'text', text: t.text });
      return { role: t.role, content };
    });
    try {
      return this.template.render({ ...this.specials, messages, add_generation_prompt: addGenerationPrompt });
    } catch (e) {
      throw new ChatTemplateError(`the chat template failed to render (${(e as Error).message})`);
    }
  }
}

/**
 * Picks the template: an explicit one (chat_template.json) wins over tokenizer_config.json's
 * "chat_template", which may be a string or a list of named templates ("default" is used).
 */
export function resolveChatTemplate(tokenizerConfig: Record<string, unknown>, chatTemplate?: string): string {
  if (chatTemplate !== undefined) {
    if (typeof chatTemplate !== 'string' || chatTemplate.length === 0)
      throw new ChatTemplateError('chat_template.json: "chat_template" must be a non-empty string');
    return chatTemplate;
  }
  const t = tokenizerConfig['chat_template'];
  if (typeof t === 'string' && t.length > 0) return t;
  if (Array.isArray(t)) {
    const named = t.find(
      (x): x is { name: string; template: string } => typeof x === 'object' && x !== null && (x as { name?: unknown }).name === 'default',
    );
    if (named && typeof named.template === 'string') return named.template;
  }
  throw new ChatTemplateError(
    'the model has no chat template: neither chat_template.json nor tokenizer_config.json has a "chat_template"; use a chat (Instruct) model',
  );
}

/** Rows and columns of tiles of one image; 0 x 0 is a single (unsplit) view. */
export interface ImageGrid {
  rows: number;
  cols: number;
}

/** The tile's position token, 1-based: `<row_2_col_3>`. */
export function tileToken(row: number, col: number): string {
  return `<row_${row + 1}_col_${col + 1}>`;
}

/**
 * What the processor puts in place of one `<image>` placeholder (Idefics3Processor's
 * replace_image_token). A single view:
 *   `<fake_token_around_image><global-img>` + imageSeqLen x `<image>` + `<fake_token_around_image>`.
 * A tiled one: per row, per tile `<fake_token_around_image><row_r_col_c>` + imageSeqLen x `<image>`,
 * then "\n" after each row; then "\n" and the single-view block for the global image.
 * The image rows follow the same order: tiles row-major, then the global view (docs/model.md).
 */
export function imageBlock(imageSeqLen: number, grid: ImageGrid = { rows: 0, cols: 0 }): string {
  if (!Number.isInteger(imageSeqLen) || imageSeqLen <= 0)
    throw new PromptError(`image_seq_len must be a positive integer, got ${imageSeqLen}`);
  const { rows, cols } = grid;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || (rows === 0) !== (cols === 0)) {
    throw new PromptError(`an image grid of ${rows} x ${cols} tiles is not valid; use 0 x 0 for a single view`);
  }
  const images = IMAGE_TOKEN.repeat(imageSeqLen);
  const global = FAKE_IMAGE_TOKEN + GLOBAL_IMAGE_TOKEN + images + FAKE_IMAGE_TOKEN;
  if (rows === 0) return global;
  let text = '';
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) text += FAKE_IMAGE_TOKEN + tileToken(r, c) + images;
    text += '\n';
  }
  return `${text}\n${global}`;
}

/**
 * The processor's expansion of each `<image>` placeholder, in order; `grids[i]` is the i-th
 * image's tiling (all single views when omitted).
 */
export function expandImagePlaceholders(prompt: string, imageSeqLen: number, grids?: readonly ImageGrid[]): string {
  const parts = prompt.split(IMAGE_TOKEN);
  const count = parts.length - 1;
  if (grids !== undefined && grids.length !== count)
    throw new PromptError(`the prompt has ${count} image placeholders but ${grids.length} image grids were given`);
  let out = parts[0];
  for (let i = 0; i < count; i++) out += imageBlock(imageSeqLen, grids?.[i]) + parts[i + 1];
  return out;
}

/** Counts non-overlapping occurrences. */
export function countOccurrences(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}
