// The tokenizer and the prompt/answer layout used for training and generation.
// Tokenisation itself is @huggingface/tokenizers on the model's tokenizer.json; prompts come
// from the model's chat template (chat.ts).
//
// Training example layout (buildExample):
//   inputIds  = prompt tokens (image placeholder expanded, generation prompt "Assistant:")
//             + answer tokens (" " + answer: the template renders an assistant turn as "Assistant: " + text)
//             + <end_of_utterance>
//   targets[t]    = inputIds[t + 1]; the last position has no target (-1)
//   answerMask[t] = 1 where targets[t] is an answer token or the closing <end_of_utterance>,
//                   i.e. t in [promptLength - 1, length - 2]; prompt and image positions are 0.
// The log-prob of an answer is the sum over t with answerMask[t] = 1 of log p(targets[t] | inputIds[..t]).
import { Tokenizer } from '@huggingface/tokenizers';
import {
  ChatTemplate,
  countOccurrences,
  END_OF_UTTERANCE,
  expandImagePlaceholders,
  FAKE_IMAGE_TOKEN,
  GLOBAL_IMAGE_TOKEN,
  imageBlock,
  IMAGE_TOKEN,
  PromptError,
  resolveChatTemplate,
  tileToken,
  type ChatTurn,
  type ImageGrid,
} from './chat';

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

/** A training sequence longer than the model or engine takes. */
export class SequenceLengthError extends PromptError {
  override name = 'SequenceLengthError';
  constructor(
    readonly tokens: number,
    readonly limit: number,
    message: string,
  ) {
    super(message);
  }
}

/** Views of one image under a grid: rows x cols tiles and the global view, or one view. */
function viewCount(grid: ImageGrid | undefined): number {
  return grid && grid.rows > 0 ? grid.rows * grid.cols + 1 : 1;
}

/**
 * Refuses an example longer than `limit` tokens (`limitName` says whose limit it is), saying
 * how many of its tokens the image takes and what to choose instead.
 */
export function checkSequenceLength(
  ex: TrainingExample,
  imageSeqLen: number,
  grid: ImageGrid | undefined,
  limit: number,
  limitName: string,
): void {
  const T = ex.inputIds.length;
  if (T <= limit) return;
  const views = viewCount(grid);
  const image = views * imageSeqLen;
  const what =
    views > 1
      ? `the image split into ${grid!.rows} x ${grid!.cols} tiles plus the global view takes ${views} x ${imageSeqLen} = ${image} image tokens`
      : `the image takes ${image} image tokens`;
  const fix =
    views > 1
      ? "choose the image detail 'one 512 view (fast)', or use a smaller or less elongated image"
      : 'shorten the question or answer';
  throw new SequenceLengthError(
    T,
    limit,
    `the sequence is ${T} tokens long, more than the ${limitName} of ${limit}: ${what}. To fit, ${fix}`,
  );
}

export interface TrainingExample {
  inputIds: Int32Array; // [T]
  answerMask: Uint8Array; // [T], 1 where targets[t] belongs to the answer (closing <end_of_utterance> included)
  targets: Int32Array; // [T], inputIds shifted left by one, -1 at the end
  imagePositions: Int32Array; // [views * imageSeqLen], the positions of the <image> tokens, ascending (tiles row-major, then the global view)
  promptLength: number; // number of prompt tokens; the answer starts here
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** tokenizer_config.json names special tokens as strings or as {content: ...} objects. */
function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v['content'] === 'string') return v['content'];
  return undefined;
}

export class ChatTokenizer {
  readonly eosId: number; // <end_of_utterance>: ends a turn and generation
  readonly padId: number;
  readonly imageTokenId: number;
  readonly fakeImageTokenId: number;
  readonly globalImageTokenId: number;
  /** Content of every special added token, to keep them out of user text. */
  private readonly specialStrings: string[];

  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly template: ChatTemplate,
    ids: { eos: number; pad: number; image: number; fake: number; global: number },
    specialStrings: string[],
  ) {
    this.eosId = ids.eos;
    this.padId = ids.pad;
    this.imageTokenId = ids.image;
    this.fakeImageTokenId = ids.fake;
    this.globalImageTokenId = ids.global;
    this.specialStrings = specialStrings;
  }

  /**
   * From the parsed tokenizer.json and tokenizer_config.json; `chatTemplate` is chat_template.json's
   * "chat_template" when the model has that file (it wins over the one in tokenizer_config.json).
   */
  static fromJson(tokenizerJson: unknown, tokenizerConfigJson: unknown, chatTemplate?: string): ChatTokenizer {
    if (!isObject(tokenizerJson) || !isObject(tokenizerJson['model'])) {
      throw new TokenizerError('tokenizer.json is not a tokenizer file (no "model" object); download the model files again');
    }
    if (!isObject(tokenizerConfigJson))
      throw new TokenizerError('tokenizer_config.json is not a JSON object; download the model files again');
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, tokenizerConfigJson);
    } catch (e) {
      throw new TokenizerError(
        `tokenizer.json could not be loaded (${(e as Error).message}); only Hugging Face "tokenizers" files are supported`,
      );
    }
    const id = (token: string, what: string): number => {
      const v = tokenizer.token_to_id(token);
      if (v === undefined)
        throw new TokenizerError(
          `tokenizer.json has no ${what} token "${token}"; this tokenizer does not belong to a SmolVLM/Idefics3 model`,
        );
      return v;
    };
    const eosName = tokenName(tokenizerConfigJson['eos_token']) ?? END_OF_UTTERANCE;
    const padName = tokenName(tokenizerConfigJson['pad_token']);
    const eos = id(eosName, 'end-of-turn (eos_token)');
    const ids = {
      eos,
      pad: padName === undefined ? eos : id(padName, 'padding (pad_token)'),
      image: id(IMAGE_TOKEN, 'image'),
      fake: id(FAKE_IMAGE_TOKEN, 'image boundary'),
      global: id(GLOBAL_IMAGE_TOKEN, 'global image'),
    };
    const specials: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const name = tokenName(tokenizerConfigJson[key]);
      if (name !== undefined) specials[key] = name;
    }
    const template = new ChatTemplate(resolveChatTemplate(tokenizerConfigJson, chatTemplate), specials);
    const specialStrings = [...tokenizer.get_added_tokens_decoder().values()].filter((t) => t.special).map((t) => t.content);
    return new ChatTokenizer(tokenizer, template, ids, specialStrings);
  }

  /** Token ids of `text`, special-token strings included as their ids; no BOS is added. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: ArrayLike<number>, skipSpecial = false): string {
    return this.tokenizer.decode(Array.from(ids), { skip_special_tokens: skipSpecial });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /**
   * The prompt for one user question, ending with the generation prompt ("Assistant:").
   * With an image, its single <image> placeholder is expanded to imageSeqLen image tokens.
   */
  renderPrompt(question: string, opts: { imageSeqLen: number; withImage: boolean; grid?: ImageGrid }): string {
    return this.renderConversation([{ role: 'user', text: question, image: opts.withImage }], {
      imageSeqLen: opts.imageSeqLen,
      addGenerationPrompt: true,
      grids: opts.withImage && opts.grid ? [opts.grid] : undefined,
    });
  }

  /** Several turns through the chat template, each image placeholder expanded (`grids`: per image, in order). */
  renderConversation(
    turns: readonly ChatTurn[],
    opts: { imageSeqLen: number; addGenerationPrompt: boolean; grids?: readonly ImageGrid[] },
  ): string {
    turns.forEach((t, i) => this.checkText(t.text, `turn ${i + 1} (${t.role})`));
    const rendered = this.template.render(turns, opts.addGenerationPrompt);
    const images = turns.filter((t) => t.image).length;
    const placeholders = countOccurrences(rendered, IMAGE_TOKEN);
    if (placeholders !== images) {
      throw new PromptError(
        `the chat template rendered ${placeholders} image placeholders for ${images} images; the model's chat template does not place images the Idefics3 way`,
      );
    }
    for (const g of opts.grids ?? []) this.checkGrid(g);
    return expandImagePlaceholders(rendered, opts.imageSeqLen, opts.grids);
  }

  /** Tokens one image takes in the prompt under `grid` (image tokens, tile and boundary tokens, newlines). */
  imagePromptTokens(imageSeqLen: number, grid?: ImageGrid): number {
    if (grid) this.checkGrid(grid);
    return this.encode(imageBlock(imageSeqLen, grid)).length;
  }

  /** Every tile of the grid needs its `<row_r_col_c>` token in the vocabulary. */
  private checkGrid(grid: ImageGrid): void {
    if (grid.rows === 0) return;
    const last = tileToken(grid.rows - 1, grid.cols - 1);
    for (let r = 0; r < grid.rows; r++)
      for (let c = 0; c < grid.cols; c++)
        if (this.tokenizer.token_to_id(tileToken(r, c)) === undefined) {
          throw new PromptError(
            `the tokenizer has no ${tileToken(r, c)} token, so it cannot place a ${grid.rows} x ${grid.cols} tile grid (up to ${last}); choose the image detail 'one 512 view (fast)'`,
          );
        }
  }

  /**
   * A teacher-forced training sequence for (question, answer) about one image, split into
   * `grid` tiles plus a global view when given; layout at the top of this file.
   */
  buildExample(question: string, answer: string, imageSeqLen: number, grid?: ImageGrid): TrainingExample {
    if (answer.trim().length === 0) throw new PromptError('the answer is empty; every training example needs an answer text');
    this.checkText(answer, 'the answer');
    const promptIds = this.encode(this.renderPrompt(question, { imageSeqLen, withImage: true, grid }));
    // The template writes "Assistant: " + answer; the generation prompt stops before the space.
    const answerIds = this.encode(` ${answer}`);
    const T = promptIds.length + answerIds.length + 1;
    const inputIds = new Int32Array(T);
    inputIds.set(promptIds, 0);
    inputIds.set(answerIds, promptIds.length);
    inputIds[T - 1] = this.eosId;

    const targets = new Int32Array(T);
    targets.set(inputIds.subarray(1), 0);
    targets[T - 1] = -1;
    const answerMask = new Uint8Array(T);
    answerMask.fill(1, promptIds.length - 1, T - 1);

    const positions: number[] = [];
    for (let t = 0; t < promptIds.length; t++) if (inputIds[t] === this.imageTokenId) positions.push(t);
    const views = viewCount(grid);
    if (positions.length !== imageSeqLen * views) {
      throw new PromptError(
        `the prompt has ${positions.length} image tokens but the vision encoder gives ${imageSeqLen} features for each of the image's ${views} views; the tokenizer and processor_config.json's image_seq_len do not match`,
      );
    }
    return { inputIds, answerMask, targets, imagePositions: Int32Array.from(positions), promptLength: promptIds.length };
  }

  /** User text must not contain special-token strings: they would tokenise as control tokens. */
  private checkText(text: string, what: string): void {
    if (typeof text !== 'string') throw new PromptError(`${what} is not text`);
    for (const s of this.specialStrings) {
      if (text.includes(s)) {
        const hint = s === IMAGE_TOKEN ? ' (the prompt template adds the image placeholder itself)' : '';
        throw new PromptError(`${what} contains the special token ${s}; remove it from the text${hint}`);
      }
    }
  }
}
