// Notices in a live region: errors stay until dismissed (they carry the fix), the rest fade.
import { errorMessage, h } from './dom';

export type ToastKind = 'info' | 'success' | 'error';

export class Toasts {
  readonly el: HTMLElement;

  constructor() {
    this.el = h('div', { class: 'toasts', testid: 'toasts', attrs: { role: 'status', 'aria-live': 'polite' } });
  }

  show(message: string, kind: ToastKind = 'info', title?: string): HTMLElement {
    const close = h('button', { class: 'toast-close', text: '×', attrs: { type: 'button', 'aria-label': 'Dismiss' } });
    const t = h(
      'div',
      {
        class: `toast toast-${kind}`,
        testid: kind === 'error' ? 'toast-error' : 'toast',
        attrs: kind === 'error' ? { role: 'alert' } : {},
      },
      h('div', { class: 'toast-body' }, title ? h('strong', { text: title }) : null, h('span', { text: message })),
      close,
    );
    close.addEventListener('click', () => t.remove());
    this.el.appendChild(t);
    if (kind !== 'error') setTimeout(() => t.remove(), 5000);
    // Keep the stack short.
    while (this.el.childElementCount > 6) this.el.firstElementChild?.remove();
    return t;
  }

  error(e: unknown, title?: string): void {
    console.error(title ?? 'error', e);
    this.show(errorMessage(e), 'error', title);
  }

  /** Run an async action and report its failure; returns undefined on failure. */
  async guard<T>(title: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      this.error(e, title);
      return undefined;
    }
  }
}
