// Log-probs of given answers under the base model and with the adapter: the figures Compare shows
// beside each answer, so one can see training raise log p(preferred answer) relative to the base
// model. The sum runs over the answer's tokens and the closing end-of-utterance token, exactly
// as the DPO loss scores answers.
import type { Engine } from '../engine';
import type { TrainingExample } from '../model/tokenizer';
import { toSequence } from '../povid/prepare';
import type { AnswerScore } from './api';

export interface ScoreDeps {
  engine: Engine;
  example: (question: string, answer: string) => TrainingExample;
}

export async function scoreAnswers(deps: ScoreDeps, question: string, answers: string[], features: Float32Array): Promise<AnswerScore[]> {
  const out: AnswerScore[] = [];
  for (const answer of answers) {
    if (!answer.trim()) {
      out.push({ answer, tokens: 0, base: null, lora: null, error: 'the answer is empty' });
      continue;
    }
    try {
      const ex = deps.example(question, answer);
      const seq = toSequence(ex, features);
      const tokens = ex.answerMask.reduce((n, m) => n + m, 0);
      const base = await deps.engine.forward([seq], { lora: false });
      const lora = deps.engine.lora ? await deps.engine.forward([seq], { lora: true }) : null;
      out.push({ answer, tokens, base: base.logprobSums[0], lora: lora ? lora.logprobSums[0] : null });
    } catch (e) {
      // Too long for the engine's context, or text the tokenizer refuses: say so for this answer only.
      out.push({ answer, tokens: 0, base: null, lora: null, error: (e as Error).message });
    }
  }
  return out;
}
