// One record's texts: question, preferred answer, and the dispreferred (hallucinated) answer with
// the injector's edits marked. Inline editing sends only the changed fields to updateRecord.
import type { Edit, PovidWorkerApi, RecordView } from '../worker/api';
import { clear, h } from './dom';

type Field = 'question' | 'chosen' | 'rejected';
const FIELDS: { key: Field; label: string }[] = [
  { key: 'question', label: 'Question' },
  { key: 'chosen', label: 'Preferred answer' },
  { key: 'rejected', label: 'Hallucinated answer' },
];

interface Span {
  start: number;
  end: number;
  edit: Edit;
}

/**
 * Edit spans that can be trusted in `text`: integer offsets inside the text, not overlapping.
 * An edit whose offsets do not hold its replacement is looked up by its text instead, so a
 * mismatch never highlights the wrong words.
 */
export function editSpans(text: string, edits: readonly Edit[]): Span[] {
  const spans: Span[] = [];
  let cursor = 0;
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  for (const e of sorted) {
    let start = e.start;
    let end = e.end;
    const valid = Number.isInteger(start) && Number.isInteger(end) && start >= cursor && end > start && end <= text.length;
    if (!valid || (typeof e.to === 'string' && e.to.length > 0 && text.slice(start, end) !== e.to)) {
      if (typeof e.to !== 'string' || e.to.length === 0) continue;
      const found = text.indexOf(e.to, cursor);
      if (found < 0) continue;
      start = found;
      end = found + e.to.length;
    }
    spans.push({ start, end, edit: e });
    cursor = end;
  }
  return spans;
}

/** Text with <mark> elements around the edits; every piece is a text node. */
export function highlightEdits(text: string, edits: readonly Edit[]): DocumentFragment {
  const frag = document.createDocumentFragment();
  let pos = 0;
  for (const s of editSpans(text, edits)) {
    if (s.start > pos) frag.append(document.createTextNode(text.slice(pos, s.start)));
    const mark = h('mark', {
      class: `edit edit-${s.edit.kind.replace(/[^\w-]/g, '')}`,
      testid: 'edit-mark',
      text: text.slice(s.start, s.end),
    });
    mark.title = s.edit.from ? `${s.edit.kind}: "${s.edit.from}" → "${s.edit.to}"` : `${s.edit.kind}: inserted`;
    mark.dataset.kind = s.edit.kind;
    frag.append(mark);
    pos = s.end;
  }
  if (pos < text.length) frag.append(document.createTextNode(text.slice(pos)));
  return frag;
}

export class RecordEditor {
  readonly el: HTMLElement;
  private record: RecordView;
  private editing = false;
  private saving = false;

  constructor(
    private readonly api: Pick<PovidWorkerApi, 'updateRecord'>,
    record: RecordView,
    private readonly onSaved: (r: RecordView) => void,
    private readonly onError: (e: unknown) => void,
  ) {
    this.record = record;
    this.el = h('div', { class: 'record-editor' });
    this.render();
  }

  update(record: RecordView): void {
    this.record = record;
    if (!this.editing) this.render();
  }

  /** An edit is open or being saved (its row must not be thrown away). */
  get busy(): boolean {
    return this.editing || this.saving;
  }

  private render(): void {
    clear(this.el);
    const r = this.record;
    const edit = h('button', {
      class: 'button link small',
      testid: 'rec-edit',
      text: 'Edit',
      attrs: { type: 'button', 'aria-label': `Edit the texts of ${r.image}` },
    });
    edit.addEventListener('click', () => this.startEditing());
    const rejected = h('p', { class: 'rec-text rejected', testid: 'rec-rejected' });
    rejected.append(r.rejectedSource === 'injected' ? highlightEdits(r.rejected, r.edits) : document.createTextNode(r.rejected));
    this.el.append(
      h('p', { class: 'rec-text question', testid: 'rec-question', text: r.question }),
      h('p', { class: 'rec-text chosen', testid: 'rec-chosen' }, h('span', { class: 'tag good', text: 'preferred' }), ' ', r.chosen),
      h(
        'div',
        { class: 'rec-text-wrap' },
        h('span', { class: 'tag bad', text: r.rejectedSource === 'injected' ? 'injected hallucination' : 'your rejected answer' }),
        rejected,
      ),
      edit,
    );
  }

  private startEditing(): void {
    this.editing = true;
    clear(this.el);
    const r = this.record;
    const areas = new Map<Field, HTMLTextAreaElement>();
    const form = h('form', { class: 'rec-form', testid: 'rec-form' });
    for (const f of FIELDS) {
      const ta = h('textarea', { testid: `edit-${f.key}`, attrs: { rows: f.key === 'question' ? 2 : 3 } });
      ta.value = r[f.key];
      areas.set(f.key, ta);
      form.append(h('label', { class: 'stack' }, h('span', { text: f.label }), ta));
    }
    const hint = h('small', { class: 'muted', text: 'Clear the hallucinated answer to have one injected again.' });
    const save = h('button', { class: 'button small', testid: 'rec-save', text: 'Save', attrs: { type: 'submit' } });
    const cancel = h('button', { class: 'button secondary small', testid: 'rec-cancel', text: 'Cancel', attrs: { type: 'button' } });
    form.append(hint, h('div', { class: 'row' }, save, cancel));
    cancel.addEventListener('click', () => this.stopEditing());
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.stopEditing();
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.saving) return;
      const patch: Partial<Record<Field, string>> = {};
      for (const [k, ta] of areas) if (ta.value !== r[k]) patch[k] = ta.value;
      if (Object.keys(patch).length === 0) return this.stopEditing();
      this.saving = true;
      save.disabled = true;
      this.api.updateRecord(r.id, patch).then(
        (updated) => {
          this.saving = false;
          this.record = updated;
          this.stopEditing();
          this.onSaved(updated);
        },
        (err) => {
          this.saving = false;
          save.disabled = false;
          this.onError(err);
        },
      );
    });
    this.el.append(form);
    areas.get('question')?.focus();
  }

  private stopEditing(): void {
    this.editing = false;
    this.render();
  }
}
