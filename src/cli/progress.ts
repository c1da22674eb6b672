/** A one-line progress bar on stderr for long jobs on a terminal (never in pipes or CI logs). */
export class Progress {
  private lastDraw = 0;
  private readonly started = Date.now();
  constructor(
    private readonly total: number,
    private readonly label: string,
  ) {}

  update(done: number): void {
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < this.total) return;
    this.lastDraw = now;
    const frac = this.total ? done / this.total : 1;
    const width = 30;
    const filled = Math.round(frac * width);
    const secs = (now - this.started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    process.stderr.write(`\r${this.label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${done}/${this.total} packets, ${rate} pps `);
  }

  done(): void {
    this.update(this.total);
    process.stderr.write("\n");
  }
}
