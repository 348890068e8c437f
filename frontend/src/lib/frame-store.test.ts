import { describe, expect, it } from "vitest";
import { FrameStore } from "./frame-store";

describe("FrameStore", () => {
  it("tells subscribers at most once per frame, with the latest value", () => {
    const frames: (() => void)[] = [];
    const store = new FrameStore(0, (callback) => frames.push(callback));
    const seen: number[] = [];
    store.subscribe(() => seen.push(store.get()));
    for (let value = 1; value <= 100; value++) store.set(value);
    let builds = 0;
    store.invalidate(() => ((builds += 1), 200));
    store.invalidate(() => ((builds += 1), 300));
    expect(frames).toHaveLength(1);
    expect(store.get()).toBe(0);
    frames.shift()!();
    expect(seen).toEqual([300]);
    expect(builds).toBe(1);
  });
});
