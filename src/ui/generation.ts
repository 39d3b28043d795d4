// One streamed generation shown in an element: the answer so far after every token, the number
// of tokens in data-tokens, and a Stop that asks the Worker to end it after the token it is
// computing, and never more than one past what the page showed (stopGeneration). States in
// data-state: streaming, done, stopped, error.
import * as Comlink from 'comlink';
import type { PovidWorkerApi } from '../worker/api';

type Api = Pick<PovidWorkerApi, 'stopGeneration'>;

export class StreamedAnswer {
  tokens = 0;
  stopped = false;

  constructor(readonly out: HTMLElement) {}

  /** Resets the element and returns the onToken callback to hand to the Worker (already proxied). */
  begin(): ((soFar: string) => void) & Comlink.ProxyMarked {
    this.tokens = 0;
    this.stopped = false;
    this.out.textContent = '';
    this.out.dataset.state = 'streaming';
    this.out.dataset.tokens = '0';
    delete this.out.dataset.tokensAtStop;
    return Comlink.proxy((soFar: string) => {
      this.tokens++;
      this.out.dataset.tokens = String(this.tokens);
      this.out.textContent = soFar;
    });
  }

  /** Asks the Worker to stop; the tokens shown at this moment are kept in data-tokens-at-stop. */
  async stop(api: Api): Promise<void> {
    if (this.out.dataset.state !== 'streaming' || this.stopped) return;
    this.stopped = true;
    this.out.dataset.tokensAtStop = String(this.tokens);
    await api.stopGeneration(this.tokens);
  }

  end(text: string): void {
    this.out.textContent = text;
    this.out.dataset.state = this.stopped ? 'stopped' : 'done';
  }

  fail(): void {
    this.out.dataset.state = 'error';
  }
}
