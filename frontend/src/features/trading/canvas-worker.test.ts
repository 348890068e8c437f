import { describe, expect, it } from "vitest";
import { serveCanvases, type CanvasWorkerScope, type ToCanvasWorker } from "./canvas-worker";
import type { Bitmap } from "./draw-job";
import { RecordingCanvas } from "./recording-canvas";
import { TAPE_ROW_HEIGHT } from "./tape-drawing";

/** A transferred canvas: its bitmap size and a recording context with the transform it was given. */
class FakeBitmap implements Bitmap {
  width = 300;
  height = 150;
  readonly context = Object.assign(new RecordingCanvas(), {
    transform: [] as number[],
    setTransform(...values: number[]) {
      this.transform = values;
    },
  });
  getContext() {
    return this.context;
  }
}

function worker() {
  const scope: CanvasWorkerScope = { onmessage: null };
  const frames: (() => void)[] = [];
  serveCanvases(scope, (run) => frames.push(run));
  const post = (data: ToCanvasWorker) => scope.onmessage!({ data });
  return { post, frames };
}

const trade = (seq: number) => ({ seq, timeMs: seq, price: 10_000 + seq, qty: seq, aggressor: "buy" as const });

describe("the canvas worker", () => {
  it("draws the newest job of each canvas once a frame, sized to its CSS size times the pixel ratio", () => {
    const { post, frames } = worker();
    const canvas = new FakeBitmap();
    post({ op: "attach", id: 1, canvas });
    const size = { width: 200, height: 2 * TAPE_ROW_HEIGHT, ratio: 2 };
    post({ op: "draw", id: 1, job: { kind: "tape", trades: [trade(1)], decimals: 2 }, size });
    post({ op: "draw", id: 1, job: { kind: "tape", trades: [trade(3), trade(2)], decimals: 2 }, size });
    expect(frames).toHaveLength(1);
    expect(canvas.context.texts).toEqual([]);
    frames.shift()!();
    expect([canvas.width, canvas.height]).toEqual([400, 4 * TAPE_ROW_HEIGHT]);
    expect(canvas.context.transform).toEqual([2, 0, 0, 2, 0, 0]);
    expect(canvas.context.texts.map((entry) => entry.text)).toEqual([
      "0:00:00.003",
      "100.03",
      "3",
      "0:00:00.002",
      "100.02",
      "2",
    ]);
    expect(canvas.context.clears).toBe(1);
  });

  it("forgets a canvas the page let go, with its pending job", () => {
    const { post, frames } = worker();
    const canvas = new FakeBitmap();
    post({ op: "attach", id: 1, canvas });
    post({
      op: "draw",
      id: 1,
      job: { kind: "tape", trades: [trade(1)], decimals: 2 },
      size: { width: 9, height: 9, ratio: 1 },
    });
    post({ op: "detach", id: 1 });
    frames.shift()!();
    expect(canvas.context.texts).toEqual([]);
    post({
      op: "draw",
      id: 1,
      job: { kind: "tape", trades: [trade(1)], decimals: 2 },
      size: { width: 9, height: 9, ratio: 1 },
    });
    frames.shift()!();
    expect(canvas.context.texts).toEqual([]);
  });

  it("ignores jobs for a canvas it was never given", () => {
    const { post, frames } = worker();
    post({
      op: "draw",
      id: 9,
      job: { kind: "tape", trades: [trade(1)], decimals: 2 },
      size: { width: 1, height: 1, ratio: 1 },
    });
    expect(() => frames.shift()!()).not.toThrow();
  });
});
