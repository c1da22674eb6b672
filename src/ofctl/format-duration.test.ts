import { describe, it, expect } from "vitest";
import { formatDuration } from "./format-flow.js";

// ofp_print_duration prints whole seconds and, when the age has a fraction,
// its whole milliseconds as ".mmm"; OVS's ages are whole milliseconds, so a
// fraction below one millisecond is cut, never rounded up into the next second.
describe("dump-flows duration", () => {
  it.each([
    [0, "0s"],
    [1, "1s"],
    [2.5, "2.500s"],
    [0.29, "0.290s"],
    [0.001, "0.001s"],
    [0.9999, "0.999s"],
    [12.0004, "12s"],
    [59.9995, "59.999s"],
  ])("%s s prints as %s", (sec, text) => {
    expect(formatDuration(sec)).toBe(text);
  });
});
