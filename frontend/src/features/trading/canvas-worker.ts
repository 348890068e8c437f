import { paint, type Bitmap, type CanvasSize, type DrawJob } from "./draw-job";

/** What the page tells the canvas worker: a canvas handed over (once), what to draw on it, and that it is gone. */
export type ToCanvasWorker =
  | { op: "attach"; id: number; canvas: Bitmap }
  | { op: "draw"; id: number; job: DrawJob; size: CanvasSize }
  | { op: "detach"; id: number };

export interface CanvasWorkerScope {
  onmessage: ((event: { data: ToCanvasWorker }) => void) | null;
}

/**
 * The canvas worker's logic (the worker is canvas.worker.ts): draws on the canvases the page transferred to it, so
 * rasterizing the ladder and the tape, and handing their frames to the compositor, is not the page's work. Only
 * the newest job of a canvas is drawn when several wait.
 */
export function serveCanvases(scope: CanvasWorkerScope, defer: (run: () => void) => void): void {
  const canvases = new Map<number, Bitmap>();
  const pending = new Map<number, { job: DrawJob; size: CanvasSize }>();
  let scheduled = false;
  const drawPending = () => {
    scheduled = false;
    for (const [id, { job, size }] of pending) {
      const canvas = canvases.get(id);
      if (canvas) paint(canvas, job, size);
    }
    pending.clear();
  };
  scope.onmessage = ({ data }) => {
    if (data.op === "attach") {
      canvases.set(data.id, data.canvas);
      return;
    }
    if (data.op === "detach") {
      canvases.delete(data.id);
      pending.delete(data.id);
      return;
    }
    pending.set(data.id, { job: data.job, size: data.size });
    if (!scheduled) {
      scheduled = true;
      defer(drawPending);
    }
  };
}
