import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { importDataset, parseDatasetFile } from '../../src/povid/dataset';
import { parseJson } from '../../src/povid/formats/json';
import { DatasetParseError } from '../../src/povid/types';
import { file, jpeg, png, PNG_1X1 } from './helpers';

const enc = new TextEncoder();

describe('import: formats', () => {
  it('reads a POVID/LLaVA JSON array with rejected_conversations and strips <image>', async () => {
    const data = [
      {
        id: 'a1',
        image: 'COCO/train2014/COCO_train2014_000000000009.jpg',
        conversations: [
          { from: 'human', value: '<image>\nWhat is on the plate?' },
          { from: 'gpt', value: 'Broccoli and a fork.' },
        ],
        rejected_conversations: [
          { from: 'human', value: '<image>\nWhat is on the plate?' },
          { from: 'gpt', value: 'Broccoli, a knife and a spoon.' },
        ],
      },
      {
        id: 'a2',
        image: 'b.png',
        conversations: [
          { from: 'human', value: 'Describe it.\n<image>' },
          { from: 'gpt', value: 'A cat.' },
        ],
      },
    ];
    const r = await importDataset([
      file('data/povid.json', JSON.stringify(data, null, 2)),
      jpeg('imgs/COCO_train2014_000000000009.jpg'),
      png('b.png'),
    ]);
    expect(r.problems).toEqual([]);
    expect(r.records.map((x) => [x.id, x.image, x.question, x.chosen, x.rejected])).toEqual([
      ['a1', 'COCO_train2014_000000000009.jpg', 'What is on the plate?', 'Broccoli and a fork.', 'Broccoli, a knife and a spoon.'],
      ['a2', 'b.png', 'Describe it.', 'A cat.', undefined],
    ]);
    expect(r.records[0].source).toEqual({ file: 'data/povid.json', line: 2, index: 0 });
    expect(r.records[1].source.line).toBe(26);
    expect([...r.images.keys()].sort()).toEqual(['COCO_train2014_000000000009.jpg', 'b.png']);
  });

  it('splits multi-turn LLaVA conversations into one record per pair, earlier turns dropped', async () => {
    const data = [
      {
        id: 'm',
        image: 'x.png',
        conversations: [
          { from: 'human', value: '<image>\nWhat animal is this?' },
          { from: 'gpt', value: 'A dog.' },
          { from: 'human', value: 'What colour is it?' },
          { from: 'gpt', value: 'Brown.' },
          { from: 'human', value: 'Is it sleeping?' },
          { from: 'gpt', value: 'No, it is running.' },
        ],
        rejected_conversations: [
          { from: 'human', value: '<image>\nWhat animal is this?' },
          { from: 'gpt', value: 'A cat.' },
          { from: 'human', value: 'What colour is it?' },
          { from: 'gpt', value: 'White.' },
        ],
      },
    ];
    const r = await importDataset([file('m.json', JSON.stringify(data)), png('x.png')]);
    expect(r.problems).toEqual([]);
    expect(r.records.map((x) => ({ id: x.id, q: x.question, a: x.chosen, rej: x.rejected, turn: x.turn }))).toEqual([
      { id: 'm#1', q: 'What animal is this?', a: 'A dog.', rej: 'A cat.', turn: { index: 0, count: 3 } },
      { id: 'm#2', q: 'What colour is it?', a: 'Brown.', rej: 'White.', turn: { index: 1, count: 3 } },
      { id: 'm#3', q: 'Is it sleeping?', a: 'No, it is running.', rej: undefined, turn: { index: 2, count: 3 } },
    ]);
  });

  it('reads QA JSONL with optional rejected and id, and generates ids when absent', async () => {
    const lines = [
      JSON.stringify({ image: 'a.png', question: 'Q1?', answer: 'A1.' }),
      '',
      JSON.stringify({ id: 'x', image: 'a.png', question: 'Q2?', answer: 'A2.', rejected: 'R2.' }),
    ].join('\n');
    const r = await importDataset([file('qa.jsonl', lines), png('a.png')]);
    expect(r.problems).toEqual([]);
    expect(r.records.map((x) => [x.id, x.question, x.chosen, x.rejected, x.source.line])).toEqual([
      ['qa.jsonl:1', 'Q1?', 'A1.', undefined, 1],
      ['x', 'Q2?', 'A2.', 'R2.', 3],
    ]);
  });

  it('reads TRL records: plain text, conversational, implicit prompt, image as {path}, JSON and JSONL', async () => {
    const recs = [
      { images: ['a.png'], prompt: '<image>What is shown?', chosen: 'A dog.', rejected: 'A cat.' },
      {
        images: [{ path: 'dir/a.png' }],
        prompt: [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'Count the cups.' }] }],
        chosen: [{ role: 'assistant', content: [{ type: 'text', text: 'Three.' }] }],
        rejected: [{ role: 'assistant', content: [{ type: 'text', text: 'Five.' }] }],
      },
      {
        image: 'a.png',
        chosen: [
          { role: 'user', content: 'Is it sunny?' },
          { role: 'assistant', content: 'Yes.' },
        ],
        rejected: [
          { role: 'user', content: 'Is it sunny?' },
          { role: 'assistant', content: 'No.' },
        ],
      },
      {
        images: ['a.png'],
        prompt: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'First question?' },
          { role: 'assistant', content: 'First answer.' },
          { role: 'user', content: [{ type: 'text', text: 'Second question?' }] },
        ],
        chosen: [{ role: 'assistant', content: 'Second answer.' }],
        rejected: [{ role: 'assistant', content: 'Wrong answer.' }],
      },
    ];
    const asJson = await importDataset([file('trl.json', JSON.stringify(recs)), png('a.png')]);
    const asJsonl = await importDataset([file('trl.jsonl', recs.map((x) => JSON.stringify(x)).join('\n') + '\n'), png('a.png')]);
    for (const r of [asJson, asJsonl]) {
      expect(r.problems).toEqual([]);
      expect(r.records.map((x) => [x.image, x.question, x.chosen, x.rejected])).toEqual([
        ['a.png', 'What is shown?', 'A dog.', 'A cat.'],
        ['a.png', 'Count the cups.', 'Three.', 'Five.'],
        ['a.png', 'Is it sunny?', 'Yes.', 'No.'],
        ['a.png', 'Second question?', 'Second answer.', 'Wrong answer.'],
      ]);
    }
  });

  it('reads CSV with quoted commas, newlines, doubled quotes, a BOM and CRLF', async () => {
    const csv =
      '\uFEFFimage,question,answer,rejected\r\n' +
      'a.png,"What is it, exactly?","A ""vintage"" car,\r\nparked outside.",A truck.\r\n' +
      'a.png,Plain?,Plain answer.,\r\n';
    const r = await importDataset([file('qa.csv', csv), png('a.png')]);
    expect(r.problems).toEqual([]);
    expect(r.records.map((x) => [x.question, x.chosen, x.rejected, x.source.line])).toEqual([
      ['What is it, exactly?', 'A "vintage" car,\nparked outside.', 'A truck.', 2],
      ['Plain?', 'Plain answer.', undefined, 4],
    ]);
  });

  it('reads CSV with columns in another order, an id column, semicolons and TSV', async () => {
    const a = await importDataset([file('x.csv', 'answer;id;image;question\nYes.;r1;a.png;Is it?\n'), png('a.png')]);
    expect(a.records.map((x) => [x.id, x.question, x.chosen])).toEqual([['r1', 'Is it?', 'Yes.']]);
    const b = await importDataset([file('x.tsv', 'image\tquestion\tanswer\na.png\tQ, with comma?\tA.\n'), png('a.png')]);
    expect(b.records.map((x) => [x.question, x.chosen])).toEqual([['Q, with comma?', 'A.']]);
  });

  it('reads UTF-16 text with a BOM', async () => {
    const text = JSON.stringify([{ image: 'a.png', question: 'Q?', answer: 'Über 🚗' }]);
    const bytes = new Uint8Array(2 + text.length * 2);
    bytes[0] = 0xff;
    bytes[1] = 0xfe;
    for (let i = 0; i < text.length; i++) {
      bytes[2 + 2 * i] = text.charCodeAt(i) & 0xff;
      bytes[3 + 2 * i] = text.charCodeAt(i) >> 8;
    }
    const r = await importDataset([file('u16.json', bytes), png('a.png')]);
    expect(r.records.map((x) => x.chosen)).toEqual(['Über 🚗']);
  });

  it('keeps emoji, right-to-left text and HTML verbatim', async () => {
    const texts = {
      question: 'ما هذا؟ <b>bold</b> 🐱',
      answer: '<script>alert("x")</script> &amp; שלום 👋🏽 "quoted"',
    };
    const json = await importDataset([file('h.jsonl', JSON.stringify({ image: 'a.png', ...texts })), png('a.png')]);
    const csv = await importDataset([
      file('h.csv', `image,question,answer\na.png,"${texts.question}","${texts.answer.replace(/"/g, '""')}"\n`),
      png('a.png'),
    ]);
    for (const r of [json, csv]) {
      expect(r.records[0].question).toBe(texts.question);
      expect(r.records[0].chosen).toBe(texts.answer);
    }
  });

  it('matches images by base name, ignoring folders and case, and reports ambiguous names', async () => {
    const recs = [
      { id: '1', image: 'C:\\data\\Photos\\DOG.JPG', question: 'q', answer: 'a' },
      { id: '2', image: 'http://example.org/x/cat.png?v=2#top', question: 'q', answer: 'a' },
      { id: '3', image: 'twin.png', question: 'q', answer: 'a' },
      { id: '4', image: 'shots/take#2.png', question: 'q', answer: 'a' },
    ];
    const r = await importDataset([
      file('r.json', JSON.stringify(recs)),
      jpeg('deep/folder/dog.jpg'),
      png('Cat.PNG'),
      png('a/twin.png'),
      png('b/twin.png'),
      png('take#2.png'),
    ]);
    expect(r.records.map((x) => [x.id, x.image])).toEqual([
      ['1', 'dog.jpg'],
      ['2', 'Cat.PNG'],
      ['4', 'take#2.png'],
    ]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ file: 'r.json', record: '3' });
    expect(r.problems[0].reason).toMatch(/ambiguous image "twin.png": 2 files .*a\/twin.png, b\/twin.png/);
  });

  it('unpacks a zip drop and reads what is inside', async () => {
    const z = zipSync({
      'set/qa.jsonl': enc.encode(JSON.stringify({ image: 'images/a.png', question: 'Q?', answer: 'A.' }) + '\n'),
      'set/images/a.png': PNG_1X1,
      '__MACOSX/set/._a.png': enc.encode('junk'),
      'set/.DS_Store': enc.encode('junk'),
    });
    const r = await importDataset([file('drop.zip', z)]);
    expect(r.problems).toEqual([]);
    expect(r.records).toHaveLength(1);
    expect(r.records[0].source.file).toBe('drop.zip/set/qa.jsonl');
    expect(new Uint8Array(await r.images.get('a.png')!.arrayBuffer())).toEqual(PNG_1X1);
  });
});

describe('import: hostile input', () => {
  it('names the file, line and column of malformed JSON', async () => {
    const text = '[\n  {"image": "a.png", "question": "q", "answer": "a"},\n  {"image": "a.png" "question": "q"}\n]';
    const r = await importDataset([file('broken.json', text), png('a.png')]);
    expect(r.records).toEqual([]);
    const p = r.problems.find((x) => x.file === 'broken.json')!;
    expect(p.reason).toMatch(/^broken\.json: line 3, column 21: expected ',' or '}'/);
    expect(() => parseJson(text, 'broken.json')).toThrow(DatasetParseError);
    try {
      parseJson(text, 'broken.json');
    } catch (e) {
      expect(e).toMatchObject({ file: 'broken.json', line: 3, column: 21 });
    }
  });

  it('reports other JSON errors with their position', () => {
    const cases: [string, RegExp][] = [
      ['[{"a": 1},]', /line 1, column 11: trailing comma/],
      ['{"a": "unterminated', /line 1, column 7: unterminated string/],
      ["[{'a': 1}]", /line 1, column 3: .*double quotes/],
      ['[1, 2', /line 1, column 6: unexpected end/],
      ['{"a":\n\n  tru}', /line 3, column 3: unexpected 't'/],
      ['{"a": "x\ny"}', /line 1, column 9: raw control character/],
    ];
    for (const [text, re] of cases) expect(() => parseJson(text, 'f.json')).toThrow(re);
  });

  it('keeps the good lines of a JSONL file with a malformed line', async () => {
    const text = [
      '{"image":"a.png","question":"q1","answer":"a1"}',
      '{"image":"a.png","question":"q2",',
      '{"image":"a.png","question":"q3","answer":"a3"}',
    ].join('\r\n');
    const r = await importDataset([file('x.jsonl', text), png('a.png')]);
    expect(r.records.map((x) => x.question)).toEqual(['q1', 'q3']);
    expect(r.records[1].source.line).toBe(3);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0].record).toBe('line 2');
    expect(r.problems[0].reason).toMatch(/^x\.jsonl: line 2, column 34: unexpected end of the text .*expected a property name/);
  });

  it('reports CSV errors: missing columns, wrong field counts, unterminated quotes', async () => {
    const noCol = await parseDatasetFile(file('a.csv', 'image,question\na.png,q\n'));
    expect(noCol.problems[0].reason).toMatch(/lacks column answer/);
    const count = await parseDatasetFile(file('b.csv', 'image,question,answer\na.png,q,a\na.png,q,a,b,c\na.png,q2,a2\n'));
    expect(count.records.map((r) => r.question)).toEqual(['q', 'q2']);
    expect(count.problems[0]).toMatchObject({ record: 'line 3' });
    expect(count.problems[0].reason).toMatch(/5 fields but the header has 3/);
    const quote = await parseDatasetFile(file('c.csv', 'image,question,answer\na.png,q,a\na.png,"never closed,a\nmore\n'));
    expect(quote.records.map((r) => r.question)).toEqual(['q']);
    expect(quote.problems[0].reason).toMatch(/c\.csv: line 3: quoted field is never closed/);
  });

  it('rejects 0-byte and non-image .jpg files, and missing images, with reasons', async () => {
    const recs = [
      { id: 'empty', image: 'empty.jpg', question: 'q', answer: 'a' },
      { id: 'text', image: 'fake.jpg', question: 'q', answer: 'a' },
      { id: 'gone', image: 'nowhere.jpg', question: 'q', answer: 'a' },
      { id: 'ok', image: 'real.jpg', question: 'q', answer: 'a' },
    ];
    const r = await importDataset([
      file('r.json', JSON.stringify(recs)),
      file('empty.jpg', new Uint8Array(0)),
      file('fake.jpg', '<html>not an image</html>'),
      jpeg('real.jpg'),
    ]);
    expect(r.records.map((x) => x.id)).toEqual(['ok']);
    expect([...r.images.keys()]).toEqual(['real.jpg']);
    const reason = (id: string) => r.problems.find((p) => p.record === id)!.reason;
    expect(reason('empty')).toMatch(/empty file \(0 bytes\)/);
    expect(reason('text')).toMatch(/not an image: its first bytes \(3C 68 74 6D/);
    expect(reason('gone')).toMatch(/missing image: no file named "nowhere.jpg"/);
  });

  it('reports records of unknown layout, wrong field types and empty files', async () => {
    const r = await importDataset([
      file(
        'odd.json',
        JSON.stringify([
          { foo: 1 },
          { image: 'a.png', question: 7, answer: 'a' },
          { image: ['a.png', 'b.png'], question: 'q', answer: 'a' },
        ]),
      ),
      file('empty.jsonl', ''),
      file('notes.bin', 'x'),
      png('a.png'),
    ]);
    expect(r.records).toEqual([]);
    const reasons = r.problems.map((p) => `${p.file}: ${p.reason}`);
    expect(reasons).toEqual([
      'notes.bin: skipped: not a dataset file (.json, .jsonl, .csv, .zip) nor an image (.jpg, .png, .gif, .webp, .bmp)',
      expect.stringMatching(/^odd\.json: line 1: not a known record layout/),
      expect.stringMatching(/^odd\.json: line 1: field "question" must be a string, found a number/),
      expect.stringMatching(/^odd\.json: line 1: "image" lists 2 images/),
      'empty.jsonl: the file is empty',
    ]);
  });
});

describe('import: 10,000 records', () => {
  function qaLines(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++)
      out.push(
        JSON.stringify({ id: `r${i}`, image: `img${i % 7}.png`, question: `Question ${i}?`, answer: `Answer ${i}, with "quotes".` }),
      );
    return out;
  }
  const images = Array.from({ length: 7 }, (_, i) => png(`img${i}.png`));

  it('parses JSONL, JSON and CSV quickly and yields to the event loop while doing so', async () => {
    const lines = qaLines(10_000);
    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks++;
      if (running) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const progress: number[] = [];
    const t0 = performance.now();
    const r = await importDataset([file('big.jsonl', lines.join('\n')), ...images], { onProgress: (p) => progress.push(p.done) });
    const ms = performance.now() - t0;
    running = false;
    expect(r.problems).toEqual([]);
    expect(r.records).toHaveLength(10_000);
    expect(r.records[9999]).toMatchObject({
      id: 'r9999',
      image: 'img3.png',
      chosen: 'Answer 9999, with "quotes".',
      source: { line: 10_000 },
    });
    expect(ms).toBeLessThan(10_000);
    // other macrotasks ran while the import was going on (it did not block the event loop)
    expect(ticks).toBeGreaterThanOrEqual(20);
    expect(progress.length).toBeGreaterThanOrEqual(20);

    const json = await importDataset([file('big.json', '[\n' + lines.join(',\n') + '\n]'), ...images]);
    expect(json.records).toHaveLength(10_000);
    expect(json.records[5000].source.line).toBe(5002);

    const csv = [
      'image,question,answer,id',
      ...Array.from({ length: 10_000 }, (_, i) => `img${i % 7}.png,"Question ${i}, really?",Answer ${i}.,c${i}`),
    ].join('\r\n');
    const c = await importDataset([file('big.csv', csv), ...images]);
    expect(c.records).toHaveLength(10_000);
    expect(c.records[1234]).toMatchObject({ id: 'c1234', question: 'Question 1234, really?', source: { line: 1236 } });
  });
});
