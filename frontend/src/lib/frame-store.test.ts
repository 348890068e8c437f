import { describe, expect, it } from "vitest";
import { batchedFrames, FrameStore, sameFields, selection } from "./frame-store";

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

  it("publishes every store of a frame in one callback when they share a batched scheduler", () => {
    const frames: (() => void)[] = [];
    const schedule = batchedFrames((run) => frames.push(run));
    const first = new FrameStore("a", schedule);
    const second = new FrameStore(1, schedule);
    const seen: string[] = [];
    first.subscribe(() => seen.push(`first ${first.get()}`));
    second.subscribe(() => seen.push(`second ${second.get()}`));
    first.set("b");
    second.set(2);
    first.set("c");
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(seen).toEqual(["first c", "second 2"]);
    // The next frame is asked for only when something changes again.
    expect(frames).toHaveLength(0);
    second.set(3);
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(seen).toEqual(["first c", "second 2", "second 3"]);
  });
});

describe("selection", () => {
  it("hands back the same part until a field of it changes", () => {
    const pick = selection((value: { phase: string; seq: number }) => ({ phase: value.phase }), sameFields);
    const first = pick({ phase: "live", seq: 1 });
    expect(pick({ phase: "live", seq: 2 })).toBe(first);
    const changed = pick({ phase: "reconnecting", seq: 3 });
    expect(changed).not.toBe(first);
    expect(changed).toEqual({ phase: "reconnecting" });
  });

  it("compares objects field by field", () => {
    const list: number[] = [];
    expect(sameFields({ a: 1, b: list }, { a: 1, b: list })).toBe(true);
    expect(sameFields({ a: 1, b: list }, { a: 1, b: [] as number[] })).toBe(false);
    expect(sameFields<{ a: number; b?: number }>({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });
});
