/**
 * A one-line progress bar for long loops, written to standard error.
 *
 * On a terminal the line redraws in place; elsewhere (CI logs, notebooks) a
 * plain line is written at most every `intervalSeconds`, and always for the
 * last step, so logs stay short.
 */

/** Options of {@link ProgressBar}. */
export interface ProgressOptions {
  /** Stream to draw on. Default `process.stderr`. */
  stream?: NodeJS.WriteStream;
  /** Seconds between plain lines when the stream is not a terminal. Default 10. */
  intervalSeconds?: number;
  /** Bar width in characters. Default 24. */
  width?: number;
}

/** A progress bar: call {@link ProgressBar.update} often and {@link ProgressBar.done} at the end. */
export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly interactive: boolean;
  private readonly intervalMs: number;
  private readonly width: number;
  private lastWrite = 0;
  private drawn = false;
  private readonly started = Date.now();

  constructor(
    private readonly label: string,
    options: ProgressOptions = {},
  ) {
    this.stream = options.stream ?? process.stderr;
    this.interactive = this.stream.isTTY === true;
    this.intervalMs = (options.intervalSeconds ?? 10) * 1000;
    this.width = options.width ?? 24;
  }

  /** Draws `done` of `total` with a free-form status, e.g. "loss 2.31 · 2,540 tok/s". */
  update(done: number, total: number, status = ''): void {
    const now = Date.now();
    const last = done >= total;
    if (!this.interactive && !last && now - this.lastWrite < this.intervalMs) return;
    this.lastWrite = now;

    const share = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(share * this.width);
    const bar = '#'.repeat(filled) + '.'.repeat(this.width - filled);
    const elapsed = (now - this.started) / 1000;
    const eta = share > 0 && !last ? ` eta ${formatDuration((elapsed * (1 - share)) / share)}` : '';
    const line = `${this.label} [${bar}] ${done}/${total} ${status}${eta}`;
    if (this.interactive) {
      this.stream.write(`\r${line}\u001b[K`);
      this.drawn = true;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** Ends the bar's line on a terminal. */
  done(): void {
    if (this.interactive && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** Formats seconds as m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}
