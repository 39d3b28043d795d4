// The fixture model's tokenizer: a byte-level BPE in SmolLM2's tokenizer.json format, with
// the SmolVLM special tokens at their real ids, so that code written against the tiny model
// runs unchanged on SmolVLM-256M-Instruct.
import { Tokenizer } from '@huggingface/tokenizers';
import { Rng } from '../src/util/rng';

/** SmolVLM-256M-Instruct's chat template (its chat_template.json, 403 characters). */
export const SMOLVLM_CHAT_TEMPLATE =
  "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

/** Size of the base (non-added) vocabulary, as in SmolLM2. */
export const BASE_VOCAB = 49152;

/** SmolLM2's own special tokens, ids 0..16. */
const SMOLLM2_SPECIALS = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<repo_name>',
  '<reponame>',
  '<file_sep>',
  '<filename>',
  '<gh_stars>',
  '<issue_start>',
  '<issue_comment>',
  '<issue_closed>',
  '<jupyter_start>',
  '<jupyter_text>',
  '<jupyter_code>',
  '<jupyter_output>',
  '<jupyter_script>',
  '<empty_output>',
];

/** SmolVLM's added tokens, ids 49152..49279. */
export function smolvlmAddedTokens(): { id: number; content: string }[] {
  const out: { id: number; content: string }[] = [{ id: 49152, content: '<global-img>' }];
  let id = 49153;
  for (let r = 1; r <= 6; r++) for (let c = 1; c <= 6; c++) out.push({ id: id++, content: `<row_${r}_col_${c}>` });
  out.push({ id: 49189, content: '<fake_token_around_image>' });
  out.push({ id: 49190, content: '<image>' });
  // 49191..49278 are unused placeholders in the real vocabulary too.
  for (let k = 49191; k < 49279; k++) out.push({ id: k, content: `<|reserved_special_token_${k - 49191}|>` });
  out.push({ id: 49279, content: '<end_of_utterance>' });
  return out;
}

/** GPT-2's reversible byte -> printable character map used by ByteLevel pre-tokenizers. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const map: string[] = new Array(256);
  bs.forEach((b, i) => (map[b] = String.fromCodePoint(cs[i])));
  return map;
}

/** Text the merges are learned from: short English about pictures, like the training answers. */
const CORPUS = `
The picture shows a dog sitting on the grass next to a red ball. There is a cat on the table.
In the image, a man is riding a bicycle down the street while a woman walks her dog.
What is in the picture? The image shows two people standing in front of a large building.
A small white boat is floating on the blue water near the shore. The sky is clear and bright.
There are three cars parked along the road, and a tree stands on the left side of the photo.
The kitchen has a wooden table with four chairs, a bowl of fruit, and a window over the sink.
A group of children are playing soccer in the park. One of them is wearing a yellow shirt.
The room is dark except for a lamp on the desk. A laptop and a cup of coffee are on the desk.
Is there a person in the image? Yes, there is a person holding an umbrella in the rain.
Is there a horse in the image? No, there is no horse in the image. There is a cow in the field.
The train is arriving at the station. Several passengers are waiting on the platform.
A plate of food with rice, vegetables and chicken sits on the counter beside a glass of water.
The bathroom has a white sink, a mirror, and a towel hanging on the wall.
Two giraffes are standing near a fence, and there are trees in the background.
The man in the blue jacket is looking at his phone while he waits for the bus.
A pizza with cheese and tomatoes is on the table, cut into eight slices.
The street is busy with people, cars and buses. A traffic light shows red at the corner.
Describe the image in detail. The photo shows a living room with a sofa, a television and a rug.
The bird is sitting on a branch of the tree. Its feathers are brown and white.
There is a clock on the tower, and the time is ten past three in the afternoon.
An airplane is flying over the city. The buildings below are tall and made of glass.
The girl is holding a kite on the beach, and the waves are rolling onto the sand.
A bowl of soup and a piece of bread are on the plate. The spoon is next to the bowl.
User: What is in the picture? Assistant: There is a dog on the grass.
User: What color is the car? Assistant: The car is red.
User: How many people are in the image? Assistant: There are two people in the image.
`;

const SYLLABLES = [
  'ba',
  'ko',
  'ri',
  'ten',
  'mal',
  'so',
  'vi',
  'dun',
  'pe',
  'la',
  'qua',
  'ner',
  'to',
  'shi',
  'gor',
  'fe',
  'lin',
  'mu',
  'dra',
  'ce',
];

export interface TinyTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

/**
 * Builds tokenizer.json and tokenizer_config.json. Merges are learned deterministically
 * from CORPUS (pre-tokenized by the library's own pre-tokenizer); the rest of the 49,152
 * base ids are filled with pseudo-words so every id the decoder can emit decodes to text.
 */
export function buildTinyTokenizer(seed = 7, maxMerges = 800): TinyTokenizerFiles {
  const byteChars = bytesToUnicode();
  // GPT-2 ordering of the byte alphabet (printable first), as in SmolLM2's vocabulary.
  const alphabet: string[] = [];
  for (let b = 33; b <= 126; b++) alphabet.push(byteChars[b]);
  for (let b = 161; b <= 172; b++) alphabet.push(byteChars[b]);
  for (let b = 174; b <= 255; b++) alphabet.push(byteChars[b]);
  for (let b = 0; b < 256; b++) if (!alphabet.includes(byteChars[b])) alphabet.push(byteChars[b]);

  const vocab = new Map<string, number>();
  SMOLLM2_SPECIALS.forEach((t, i) => vocab.set(t, i));
  for (const ch of alphabet) vocab.set(ch, vocab.size);

  const preTokenizerJson = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Digits', individual_digits: true },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    ],
  };
  const words = preTokenize(preTokenizerJson, CORPUS);
  const merges = learnMerges(words, maxMerges);
  for (const [a, b] of merges) if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);

  const rng = new Rng(seed);
  while (vocab.size < BASE_VOCAB) {
    const n = 1 + rng.int(4);
    let w = rng.next() < 0.8 ? byteChars[32] : '';
    for (let i = 0; i < n; i++) w += rng.pick(SYLLABLES);
    if (!vocab.has(w)) vocab.set(w, vocab.size);
    else vocab.set(`${w}${vocab.size}`, vocab.size);
  }

  const addedToken = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const added = [...SMOLLM2_SPECIALS.map((t, i) => addedToken(i, t)), ...smolvlmAddedTokens().map((t) => addedToken(t.id, t.content))];

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizerJson,
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };

  const addedTokensDecoder: Record<string, unknown> = {};
  for (const t of added) {
    const { id, ...rest } = t;
    addedTokensDecoder[String(id)] = rest;
  }
  const tokenizerConfig = {
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: ['<fake_token_around_image>', '<image>', '<end_of_utterance>'],
    bos_token: '<|im_start|>',
    chat_template: SMOLVLM_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<end_of_utterance>',
    legacy: false,
    model_max_length: 2048,
    pad_token: '<|im_end|>',
    processor_class: 'Idefics3Processor',
    tokenizer_class: 'GPT2Tokenizer',
    truncation_side: 'left',
    unk_token: '<|endoftext|>',
    vocab_size: BASE_VOCAB,
  };
  return { tokenizerJson, tokenizerConfig };
}

function preTokenize(preTokenizerJson: object, text: string): string[] {
  // A throwaway tokenizer only to reach the library's pre-tokenizer (no merges needed).
  const tok = new Tokenizer(
    {
      normalizer: null,
      pre_tokenizer: preTokenizerJson,
      model: { type: 'BPE', vocab: { a: 0 }, merges: [] },
      added_tokens: [],
      decoder: null,
      post_processor: null,
    },
    {},
  );
  if (!tok.pre_tokenizer) throw new Error('tiny tokenizer: pre-tokenizer did not load');
  return tok.pre_tokenizer.pre_tokenize(text);
}

/** Greedy BPE training: most frequent adjacent pair first, ties broken by string order. */
function learnMerges(words: string[], maxMerges: number): [string, string][] {
  const counts = new Map<string, number>();
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
  const seqs = [...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([w, c]) => ({ parts: [...w], count: c }));
  const merges: [string, string][] = [];
  while (merges.length < maxMerges) {
    const pairs = new Map<string, number>();
    for (const s of seqs) {
      for (let i = 0; i + 1 < s.parts.length; i++) {
        const key = `${s.parts[i]}\u0000${s.parts[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + s.count);
      }
    }
    let best = '';
    let bestCount = 1; // a pair seen once teaches nothing
    for (const [k, c] of pairs) if (c > bestCount || (c === bestCount && c > 1 && k < best)) [best, bestCount] = [k, c];
    if (!best) break;
    const [a, b] = best.split('\u0000') as [string, string];
    merges.push([a, b]);
    for (const s of seqs) {
      const out: string[] = [];
      for (let i = 0; i < s.parts.length; i++) {
        if (i + 1 < s.parts.length && s.parts[i] === a && s.parts[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(s.parts[i]);
      }
      s.parts = out;
    }
  }
  return merges;
}
