import type { Canvas2D } from "./palette";
import { drawLadder, type LadderModel } from "./ladder-model";
import { drawTape } from "./tape-drawing";
import type { TapeTrade } from "./trading-store";

/** What one canvas shows in one frame: plain data, so it can be drawn on the page or posted to the canvas worker. */
export type DrawJob =
  | { kind: "ladder"; model: LadderModel; scrollTop: number; decimals: number }
  | { kind: "tape"; trades: readonly TapeTrade[]; decimals: number };

/** A canvas's CSS size and its device pixel ratio. */
export interface CanvasSize {
  width: number;
  height: number;
  ratio: number;
}

/** Draws a job on a context already scaled to CSS pixels. */
export function drawJob(context: Canvas2D, job: DrawJob, size: CanvasSize): void {
  const view = { width: size.width, height: size.height };
  if (job.kind === "ladder") drawLadder(context, job.model, { ...view, scrollTop: job.scrollTop }, job.decimals);
  else drawTape(context, job.trades, view, job.decimals);
}

/** The part of a canvas (an element's or an OffscreenCanvas) that drawing needs. */
export interface Bitmap {
  width: number;
  height: number;
  getContext(
    kind: "2d",
  ): (Canvas2D & { setTransform(a: number, b: number, c: number, d: number, e: number, f: number): void }) | null;
}

/**
 * Sizes a canvas's bitmap to its CSS size times the pixel ratio (only when that changed: resizing clears it),
 * scales its context to CSS pixels and draws the job.
 */
export function paint(canvas: Bitmap, job: DrawJob, size: CanvasSize): void {
  const pixelsWide = Math.max(1, Math.round(size.width * size.ratio));
  const pixelsHigh = Math.max(1, Math.round(size.height * size.ratio));
  if (canvas.width !== pixelsWide) canvas.width = pixelsWide;
  if (canvas.height !== pixelsHigh) canvas.height = pixelsHigh;
  const context = canvas.getContext("2d");
  if (!context) return;
  context.setTransform(size.ratio, 0, 0, size.ratio, 0, 0);
  drawJob(context, job, size);
}
