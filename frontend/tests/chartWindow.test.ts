import { describe, expect, it } from "vitest";
import { ChartWindow } from "../src/chartWindow";

describe("ChartWindow", () => {
  it("shows the newest bars first, at most `size`", () => {
    const w = new ChartWindow(1000, 30);
    expect(w.reset(5000, 0, null)).toEqual({ lo: 4000, hi: 5000, shift: null });
    expect(w.following).toBe(true);
    expect(new ChartWindow(1000).reset(200, 0, null)).toEqual({ lo: 0, hi: 200, shift: null });
  });

  it("asks for older history at the left edge of the book", () => {
    const w = new ChartWindow(1000, 30);
    w.reset(800, 0, null);
    expect(w.scrolled({ from: 10, to: 110 })).toEqual({ kind: "older" });
    expect(w.scrolled({ from: 300, to: 400 })).toBeNull();
  });

  it("keeps the view on the same bars when older ones are prepended", () => {
    const w = new ChartWindow(1000, 30);
    w.reset(800, 0, null); // lo 0
    // 5,000 older bars arrive while the view shows chart bars 5..105 (book 5..105).
    const slice = w.reset(5800, 5000, { from: 5, to: 105 });
    // The view's bars are now book 5005..5105; the slice centres on them.
    expect(slice.hi - slice.lo).toBe(1000);
    expect(slice.lo).toBeLessThanOrEqual(5005);
    expect(slice.hi).toBeGreaterThanOrEqual(5105);
    expect(5 + slice.shift! + slice.lo).toBe(5005);
  });

  it("slides left through the book without asking the server, then asks at its start", () => {
    const w = new ChartWindow(1000, 30);
    w.reset(10_000, 0, null); // 9000..10000
    const action = w.scrolled({ from: 2, to: 102 });
    expect(action?.kind).toBe("slide");
    if (action?.kind !== "slide") return;
    expect(w.lo).toBe(9000); // asking changes nothing until the slice is applied
    w.apply(action.slice);
    // Chart bar 2 was book 9002: after the slide it is chart bar 2 + shift.
    expect(action.slice.lo + 2 + action.slice.shift!).toBe(9002);
    expect(w.following).toBe(false);
    // A slice not at the end does not draw live bars, until it slides back.
    expect(w.barChanged(10_000, 10_001)).toBe(false);
    const back = w.scrolled({ from: 940, to: 999 });
    expect(back?.kind).toBe("slide");
    // Scrolling into the clamp at the slice's right end keeps asking to slide.
    expect(w.scrolled({ from: 998, to: 1050 })?.kind).toBe("slide");
    let guard = 0;
    let view = { from: 2, to: 102 };
    while (guard++ < 100) {
      const step = w.scrolled(view);
      if (step?.kind === "older") break;
      if (step?.kind === "slide") {
        w.apply(step.slice);
        view = { from: view.from + step.slice.shift!, to: view.to + step.slice.shift! };
      }
      view = { from: view.from - 200, to: view.to - 200 };
    }
    expect(w.lo).toBe(0);
  });

  it("follows live bars while it ends at the newest", () => {
    const w = new ChartWindow(1000, 30);
    w.reset(1000, 0, null);
    expect(w.barChanged(1000, 1001)).toBe(true); // appended
    expect(w.hi).toBe(1001);
    expect(w.barChanged(999, 1001)).toBe(true); // a close fixing the bar before
    expect(w.barChanged(-1, 1001)).toBe(false);
  });
});
