// First thing on the page: can this browser run WebGPU in a Worker? If not, say why and what to do.
import type { GpuStatus, PovidWorkerApi } from '../worker/api';
import { softwareRenderer } from '../gpu/software';
import { clear, errorMessage, h } from './dom';

const WHAT_TO_DO = [
  'Use a recent Chrome or Edge (version 113 or newer) on Windows, macOS or ChromeOS, or Chrome 121+ on Android.',
  'On Linux, Chrome needs WebGPU switched on: open chrome://flags, enable "Unsafe WebGPU Support" and Vulkan, then restart.',
  'Safari 26+ and Firefox 141+ (Windows) ship WebGPU; older versions need it enabled in their settings.',
  'Check chrome://gpu: WebGPU must read "Hardware accelerated". Update the graphics driver if it is blocklisted.',
];

/** What to expect on a software rasteriser (rough figures seen on SwiftShader). */
export function softwareNote(name: string): string {
  return (
    `WebGPU runs on ${name}, a software rasteriser on the CPU, not on a graphics card. Everything works, ` +
    'but one to two orders of magnitude slower: the built-in tiny model takes seconds to tens of seconds per training step, ' +
    'SmolVLM-256M minutes per step and about a minute per answer. For real training use a browser with a ' +
    'hardware WebGPU adapter (chrome://gpu should say "WebGPU: Hardware accelerated").'
  );
}

export class GpuCheck {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;

  constructor() {
    this.body = h('div', { class: 'gpu-body', text: 'Checking WebGPU…' });
    this.el = h(
      'section',
      { class: 'gpu-check', testid: 'gpu-status', attrs: { 'aria-live': 'polite', 'data-state': 'checking' } },
      this.body,
    );
  }

  async run(api: Pick<PovidWorkerApi, 'gpuStatus'>): Promise<GpuStatus> {
    let status: GpuStatus;
    if (!(navigator as Navigator & { gpu?: GPU }).gpu) {
      // No need to ask the Worker: the page itself has no navigator.gpu.
      status = { ok: false, message: 'This browser does not expose WebGPU (navigator.gpu is missing).' };
    } else {
      try {
        status = await api.gpuStatus();
      } catch (e) {
        status = { ok: false, message: `The WebGPU check failed: ${errorMessage(e)}` };
      }
    }
    this.render(status);
    return status;
  }

  /** The Worker itself failed (it could not start or crashed): nothing can run. */
  workerFailed(message: string): void {
    clear(this.body);
    this.el.dataset.state = 'error';
    this.el.classList.remove('is-ok');
    this.el.classList.add('is-bad');
    this.body.append(
      h('strong', { text: 'The background worker stopped, so nothing can run.' }),
      h('p', { testid: 'gpu-message', text: message }),
      h('p', { text: 'Reload the page. If it happens again, the browser console has the details.' }),
    );
  }

  private render(s: GpuStatus): void {
    clear(this.body);
    this.el.dataset.state = s.ok ? 'ok' : 'missing';
    this.el.classList.toggle('is-ok', s.ok);
    this.el.classList.toggle('is-bad', !s.ok);
    if (s.ok) {
      const a = s.adapter;
      const name = a ? [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'unnamed adapter' : 'adapter';
      const feats = s.features ? ` — f16 ${s.features.f16 ? 'yes' : 'no'}, subgroups ${s.features.subgroups ? 'yes' : 'no'}` : '';
      this.body.append(h('span', { class: 'dot', attrs: { 'aria-hidden': 'true' } }), h('span', { text: `WebGPU ready: ${name}${feats}` }));
      const software = softwareRenderer(a);
      this.el.dataset.software = String(software !== null);
      if (software) this.body.append(h('p', { class: 'gpu-software', testid: 'gpu-software', text: softwareNote(software) }));
      return;
    }
    this.body.append(
      h('strong', { text: 'WebGPU is not available, so training cannot run here.' }),
      h('p', { testid: 'gpu-message', text: s.message ?? 'No WebGPU adapter was found.' }),
      h('p', { text: 'What to do:' }),
      h('ul', {}, ...WHAT_TO_DO.map((t) => h('li', { text: t }))),
    );
  }
}
