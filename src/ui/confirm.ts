// A confirmation in the page (a modal <dialog>), for actions that delete what the user made.
// Resolves true only on the confirm button; Escape, Cancel and closing say no.
import { h, type Child } from './dom';

export interface ConfirmOptions {
  title: string;
  message: string;
  confirm: string;
  /** Extra controls (a checkbox), read by the caller after a yes. */
  extra?: Child;
}

export function confirmDialog(o: ConfirmOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const yes = h('button', { class: 'button danger', testid: 'confirm-ok', text: o.confirm, attrs: { type: 'button' } });
    const no = h('button', { class: 'button secondary', testid: 'confirm-cancel', text: 'Cancel', attrs: { type: 'button' } });
    const dialog = h(
      'dialog',
      { class: 'confirm-dialog', testid: 'confirm-dialog', attrs: { 'aria-labelledby': 'confirm-title' } },
      h('h3', { text: o.title, attrs: { id: 'confirm-title' } }),
      h('p', { text: o.message }),
      o.extra ?? null,
      h('div', { class: 'row' }, no, yes),
    );
    let answer = false;
    const done = (v: boolean) => {
      answer = v;
      dialog.close();
    };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus(); // the safe choice under Enter
  });
}
