import { describe, expect, it } from 'vitest';
import { buildTinyTokenizer, SMOLVLM_CHAT_TEMPLATE } from '../../scripts/tiny-tokenizer';
import { ChatTemplate, ChatTemplateError, expandImagePlaceholders, imageBlock, PromptError } from '../../src/model/chat';
import { ChatTokenizer, checkSequenceLength, SequenceLengthError, TokenizerError } from '../../src/model/tokenizer';

const { tokenizerJson, tokenizerConfig } = buildTinyTokenizer();
const tok = ChatTokenizer.fromJson(tokenizerJson, tokenizerConfig, SMOLVLM_CHAT_TEMPLATE);
const Q = 'What is in the picture?';
const EXPANDED_IMAGE = '<fake_token_around_image><global-img>' + '<image>'.repeat(64) + '<fake_token_around_image>';

describe('special tokens', () => {
  it('sit at SmolVLM-256M-Instruct ids', () => {
    const expected: [string, number][] = [
      ['<|endoftext|>', 0],
      ['<|im_start|>', 1],
      ['<|im_end|>', 2],
      ['<global-img>', 49152],
      ['<row_1_col_1>', 49153],
      ['<row_1_col_2>', 49154],
      ['<row_2_col_1>', 49159],
      ['<row_4_col_4>', 49174],
      ['<row_6_col_6>', 49188],
      ['<fake_token_around_image>', 49189],
      ['<image>', 49190],
      ['<end_of_utterance>', 49279],
    ];
    for (const [token, id] of expected) {
      expect(tok.tokenToId(token), token).toBe(id);
      expect(tok.encode(token), token).toEqual([id]);
    }
    expect(tok.eosId).toBe(49279);
    expect(tok.padId).toBe(2);
    expect(tok.imageTokenId).toBe(49190);
    expect(tok.fakeImageTokenId).toBe(49189);
    expect(tok.globalImageTokenId).toBe(49152);
  });

  it('every base id decodes to some text (generation never yields empty pieces)', () => {
    for (const id of [17, 300, 1000, 20000, 49151]) expect(tok.decode([id]).length, `id ${id}`).toBeGreaterThan(0);
  });
});

describe('encode / decode', () => {
  it('round-trips text byte-exactly, including non-ASCII and digits', () => {
    for (const s of ['The dog sits on the grass.', 'Café ☕ — 12 apples, 3.5 kg', '  two  spaces\nnew line\ttab', '日本語のテキスト 🐕']) {
      const ids = tok.encode(s);
      expect(ids.length).toBeGreaterThan(0);
      expect(tok.decode(ids)).toBe(s);
    }
  });

  it('adds no BOS and splits digits individually (SmolLM2 pre-tokenizer)', () => {
    const ids = tok.encode('123');
    expect(ids).toHaveLength(3);
    expect(ids[0]).not.toBe(1);
  });

  it('uses merges: common words are single tokens', () => {
    expect(tok.encode(' the')).toHaveLength(1);
    expect(tok.encode(' picture')).toHaveLength(1);
  });

  it('skipSpecial drops control tokens on decode', () => {
    const ids = tok.encode('<|im_start|>User: hi<end_of_utterance>');
    expect(tok.decode(ids, true)).toBe('User: hi');
    expect(tok.decode(ids, false)).toBe('<|im_start|>User: hi<end_of_utterance>');
  });
});

describe('chat template', () => {
  it('renders the SmolVLM layout before expansion', () => {
    const t = new ChatTemplate(SMOLVLM_CHAT_TEMPLATE);
    expect(t.render([{ role: 'user', text: Q, image: true }], true)).toBe(
      '<|im_start|>User:<image>What is in the picture?<end_of_utterance>\nAssistant:',
    );
    expect(t.render([{ role: 'user', text: Q }], true)).toBe('<|im_start|>User: What is in the picture?<end_of_utterance>\nAssistant:');
    expect(
      t.render(
        [
          { role: 'user', text: Q, image: true },
          { role: 'assistant', text: 'A dog.' },
        ],
        false,
      ),
    ).toBe('<|im_start|>User:<image>What is in the picture?<end_of_utterance>\nAssistant: A dog.<end_of_utterance>\n');
  });

  it('renderPrompt expands the single image placeholder as the processor does without splitting', () => {
    const p = tok.renderPrompt(Q, { imageSeqLen: 64, withImage: true });
    expect(p).toBe(`<|im_start|>User:${EXPANDED_IMAGE}What is in the picture?<end_of_utterance>\nAssistant:`);
    expect(tok.renderPrompt(Q, { imageSeqLen: 64, withImage: false })).toBe(
      '<|im_start|>User: What is in the picture?<end_of_utterance>\nAssistant:',
    );

    const ids = tok.encode(p);
    const user = tok.encode('User:');
    const question = tok.encode(Q);
    const tail = tok.encode('\nAssistant:');
    expect(ids).toEqual([1, ...user, 49189, 49152, ...new Array(64).fill(49190), 49189, ...question, 49279, ...tail]);
  });

  it('takes the template from tokenizer_config.json when chat_template.json is absent', () => {
    const fromConfig = ChatTokenizer.fromJson(tokenizerJson, tokenizerConfig);
    expect(fromConfig.renderPrompt(Q, { imageSeqLen: 64, withImage: true })).toBe(
      tok.renderPrompt(Q, { imageSeqLen: 64, withImage: true }),
    );
    const { chat_template: _, ...noTemplate } = tokenizerConfig;
    expect(() => ChatTokenizer.fromJson(tokenizerJson, noTemplate)).toThrow(ChatTemplateError);
  });

  it('rejects user text carrying special tokens', () => {
    expect(() => tok.renderPrompt('<image>\nWhat is this?', { imageSeqLen: 64, withImage: true })).toThrow(PromptError);
    expect(() => tok.buildExample(Q, 'A dog<end_of_utterance>', 64)).toThrow(/end_of_utterance/);
    expect(() => tok.buildExample(Q, '   ', 64)).toThrow(PromptError);
  });

  it('rejects a tokenizer without the image tokens', () => {
    const json = structuredClone(tokenizerJson) as { added_tokens: { content: string }[] };
    json.added_tokens = json.added_tokens.filter((t) => t.content !== '<image>');
    expect(() => ChatTokenizer.fromJson(json, tokenizerConfig)).toThrow(TokenizerError);
    expect(() => ChatTokenizer.fromJson({ nope: 1 }, tokenizerConfig)).toThrow(TokenizerError);
  });
});

describe('buildExample', () => {
  const answer = 'There is a dog on the grass.';
  const ex = tok.buildExample(Q, answer, 64);
  const T = ex.inputIds.length;

  it('lays out prompt + answer + <end_of_utterance>', () => {
    const promptIds = tok.encode(tok.renderPrompt(Q, { imageSeqLen: 64, withImage: true }));
    const answerIds = tok.encode(' ' + answer);
    expect(ex.promptLength).toBe(promptIds.length);
    expect(Array.from(ex.inputIds)).toEqual([...promptIds, ...answerIds, 49279]);
    expect(tok.decode(ex.inputIds.subarray(ex.promptLength, T - 1))).toBe(' ' + answer);
  });

  it('matches the template rendering of the whole conversation token for token', () => {
    const full = tok.renderConversation(
      [
        { role: 'user', text: Q, image: true },
        { role: 'assistant', text: answer },
      ],
      { imageSeqLen: 64, addGenerationPrompt: false },
    );
    expect(tok.encode(full)).toEqual([...Array.from(ex.inputIds), ...tok.encode('\n')]);
  });

  it('shifts targets and masks exactly the answer and closing token', () => {
    for (let t = 0; t < T - 1; t++) expect(ex.targets[t]).toBe(ex.inputIds[t + 1]);
    expect(ex.targets[T - 1]).toBe(-1);
    const masked: number[] = [];
    for (let t = 0; t < T; t++) if (ex.answerMask[t]) masked.push(t);
    const answerLen = T - 1 - ex.promptLength;
    expect(masked).toHaveLength(answerLen + 1);
    expect(masked[0]).toBe(ex.promptLength - 1);
    expect(masked[masked.length - 1]).toBe(T - 2);
    expect(ex.targets[masked[masked.length - 1]]).toBe(tok.eosId);
    // No masked target is an image or prompt token.
    for (const t of masked) expect(ex.targets[t]).not.toBe(tok.imageTokenId);
  });

  it('lists the 64 image positions, right after <fake_token_around_image><global-img>', () => {
    expect(ex.imagePositions).toHaveLength(64);
    const first = ex.imagePositions[0];
    expect(ex.inputIds[first - 2]).toBe(49189);
    expect(ex.inputIds[first - 1]).toBe(49152);
    for (let i = 0; i < 64; i++) {
      expect(ex.imagePositions[i]).toBe(first + i);
      expect(ex.inputIds[first + i]).toBe(49190);
    }
    expect(ex.inputIds[first + 64]).toBe(49189);
    expect(ex.answerMask.subarray(0, ex.promptLength - 1).every((m) => m === 0)).toBe(true);
  });

  it('follows imageSeqLen', () => {
    const small = tok.buildExample(Q, answer, 16);
    expect(small.imagePositions).toHaveLength(16);
    expect(small.inputIds.length).toBe(T - 48);
  });
});

describe('tiled images', () => {
  const answer = 'A red house.';
  const grid = { rows: 3, cols: 4 };

  it('expands the placeholder as Idefics3Processor does: tiles with <row_r_col_c>, a newline per row, then the global view', () => {
    const p = tok.renderPrompt(Q, { imageSeqLen: 2, withImage: true, grid: { rows: 2, cols: 2 } });
    const I = '<image><image>';
    const F = '<fake_token_around_image>';
    const block = `${F}<row_1_col_1>${I}${F}<row_1_col_2>${I}\n${F}<row_2_col_1>${I}${F}<row_2_col_2>${I}\n\n${F}<global-img>${I}${F}`;
    expect(p).toBe(`<|im_start|>User:${block}What is in the picture?<end_of_utterance>\nAssistant:`);
    expect(expandImagePlaceholders('<image>', 2, [{ rows: 0, cols: 0 }])).toBe(`${F}<global-img>${I}${F}`);
    expect(() => expandImagePlaceholders('<image><image>', 2, [{ rows: 1, cols: 1 }])).toThrow(/2 image placeholders but 1 image grids/);
    expect(() => imageBlock(2, { rows: 2, cols: 0 })).toThrow(PromptError);
  });

  it('lists the image positions of all 13 views in prompt order, 64 each', () => {
    const ex = tok.buildExample(Q, answer, 64, grid);
    expect(ex.imagePositions).toHaveLength(13 * 64);
    // Each view's 64 positions are consecutive and follow its tile token (or <global-img>).
    for (let v = 0; v < 13; v++) {
      const first = ex.imagePositions[v * 64];
      for (let i = 0; i < 64; i++) expect(ex.imagePositions[v * 64 + i]).toBe(first + i);
      const marker = v < 12 ? `<row_${Math.floor(v / 4) + 1}_col_${(v % 4) + 1}>` : '<global-img>';
      expect(tok.tokenToId(marker)).toBeDefined();
      expect(ex.inputIds[first - 1]).toBe(tok.tokenToId(marker));
    }
    const single = tok.buildExample(Q, answer, 64);
    expect(ex.inputIds.length - single.inputIds.length).toBe(tok.imagePromptTokens(64, grid) - tok.imagePromptTokens(64));
    expect(tok.imagePromptTokens(64)).toBe(67);
    // Idefics3Processor._get_num_multimodal_tokens: base (64 + 3) + split newline extra + rows x (cols x (64 + 2) + 1).
    const extra = tok.encode('\n\n').length - 1;
    expect(tok.imagePromptTokens(64, grid)).toBe(67 + extra + 3 * (4 * 66 + 1));
  });

  it('refuses a grid the tokenizer has no tile tokens for, and a sequence past the limit, naming it and what to choose', () => {
    expect(() => tok.renderPrompt(Q, { imageSeqLen: 64, withImage: true, grid: { rows: 7, cols: 2 } })).toThrow(
      /no <row_7_col_1> token.*one 512 view/,
    );
    const ex = tok.buildExample(Q, answer, 64, grid);
    expect(() => checkSequenceLength(ex, 64, grid, ex.inputIds.length, 'maximum sequence length')).not.toThrow();
    let err: unknown;
    try {
      checkSequenceLength(ex, 64, grid, 512, "engine's maximum sequence length");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SequenceLengthError);
    expect((err as SequenceLengthError).limit).toBe(512);
    expect((err as Error).message).toMatch(
      /more than the engine's maximum sequence length of 512: the image split into 3 x 4 tiles plus the global view takes 13 x 64 = 832 image tokens.*'one 512 view \(fast\)'/,
    );
  });
});
