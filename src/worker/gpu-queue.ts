// One GPU job at a time. The engine keeps one set of activation buffers, so two jobs whose awaits
// interleave (a generation and a probe, say) would overwrite each other's activations; every
// Worker call that runs the engine goes through this queue.
export class GpuQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const next = this.tail.then(job, job);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
