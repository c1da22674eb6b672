/**
 * A one-line progress bar on stderr for long jobs on a terminal (never in pipes or CI logs).
 * The bar measures `total` units of work (packets, or bytes of an input
 * file read a window at a time); the line always counts packets.
 */
export class Progress {
  private lastDraw = 0;
  /** Units done at the last draw (-1: none yet). */
  private drawnDone = -1;
  private readonly started = Date.now();
  constructor(
    private readonly total: number,
    private readonly label: string,
  ) {}

  /** `done` units of `total` are done, `packets` packets so far (default: the units are packets). */
  update(done: number, packets: number = done): void {
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < this.total) return;
    this.lastDraw = now;
    this.drawnDone = done;
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const width = 30;
    const filled = Math.round(frac * width);
    const secs = (now - this.started) / 1000;
    const rate = secs > 0 ? Math.round(packets / secs) : 0;
    process.stderr.write(`\r${this.label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${packets} packets, ${rate} pps `);
  }

  done(packets: number): void {
    if (this.drawnDone < this.total) this.update(this.total, packets);
    process.stderr.write("\n");
  }
}
