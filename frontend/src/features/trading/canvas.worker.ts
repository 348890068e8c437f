// The canvas worker's entry (see serveCanvases in canvas-worker.ts and canvasPainter in canvas.ts).
import { serveCanvases, type CanvasWorkerScope } from "./canvas-worker";

// A worker's animation frame, where the browser has one for OffscreenCanvas; else a macrotask.
const frame = (run: () => void) =>
  typeof requestAnimationFrame === "function" ? requestAnimationFrame(() => run()) : setTimeout(run, 0);

serveCanvases(self as unknown as CanvasWorkerScope, frame);
