/** Buffered line output to a file descriptor: one write per 64 KiB, not per line. */
import { writeSync } from "node:fs";

export class OutputBuffer {
  private chunks: string[] = [];
  private size = 0;
  constructor(private readonly fd: number) {}

  line(text: string): void {
    this.chunks.push(text, "\n");
    this.size += text.length + 1;
    if (this.size >= 65536) this.flush();
  }

  flush(): void {
    if (this.size === 0) return;
    const data = this.chunks.join("");
    this.chunks = [];
    this.size = 0;
    let buf = Buffer.from(data);
    while (buf.length > 0) {
      try {
        const n = writeSync(this.fd, buf);
        buf = buf.subarray(n);
      } catch (e) {
        // A non-blocking pipe that is full: wait for the reader and retry.
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
        throw e;
      }
    }
  }
}
