import { useEffect, useState, type RefObject } from "react";
import type { ToCanvasWorker } from "./canvas-worker";
import { paint, type Bitmap, type CanvasSize, type DrawJob } from "./draw-job";

/** Draws jobs on one canvas element: in the canvas worker when the canvas could be handed to it, else here. */
export type Painter = (job: DrawJob, width: number, height: number) => void;

interface WorkerLike {
  postMessage(message: ToCanvasWorker, transfer?: Transferable[]): void;
}

let canvasWorker: WorkerLike | null | undefined;
let nextCanvasId = 1;
/** One painter per element: a canvas can be handed to a worker only once (and effects may run twice). */
const painters = new WeakMap<HTMLCanvasElement, { painter: Painter; release: () => void }>();

function sharedWorker(): WorkerLike | null {
  if (canvasWorker === undefined) {
    try {
      canvasWorker =
        typeof Worker === "function"
          ? new Worker(new URL("./canvas.worker.ts", import.meta.url), { type: "module", name: "canvas" })
          : null;
    } catch {
      canvasWorker = null;
    }
  }
  return canvasWorker;
}

/** The painter of a canvas element; its CSS size follows each job's size. */
export function painterFor(canvas: HTMLCanvasElement): Painter {
  const known = painters.get(canvas);
  if (known) return known.painter;
  const worker = "transferControlToOffscreen" in canvas ? sharedWorker() : null;
  let draw: (job: DrawJob, size: CanvasSize) => void;
  let release = () => {};
  if (worker) {
    const id = nextCanvasId++;
    const offscreen = canvas.transferControlToOffscreen();
    worker.postMessage({ op: "attach", id, canvas: offscreen as unknown as Bitmap }, [offscreen]);
    draw = (job, size) => worker.postMessage({ op: "draw", id, job, size });
    release = () => worker.postMessage({ op: "detach", id });
  } else {
    draw = (job, size) => paint(canvas as unknown as Bitmap, job, size);
  }
  let shownWidth = -1;
  let shownHeight = -1;
  const painter: Painter = (job, width, height) => {
    if (width !== shownWidth || height !== shownHeight) {
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
      shownWidth = width;
      shownHeight = height;
    }
    draw(job, { width, height, ratio: window.devicePixelRatio || 1 });
  };
  painters.set(canvas, { painter, release });
  return painter;
}

/** Lets the canvas worker drop a canvas once its element has left the page (not on StrictMode's trial unmount). */
export function useCanvasRelease(canvas: RefObject<HTMLCanvasElement | null>): void {
  useEffect(() => {
    const element = canvas.current;
    return () => {
      if (!element || element.isConnected) return;
      painters.get(element)?.release();
      painters.delete(element);
    };
  }, [canvas]);
}

/** An element's inner size (without its scrollbar), kept up to date by a ResizeObserver. */
export function useInnerSize(element: RefObject<HTMLElement | null>): { width: number; height: number } {
  const [size, setSize] = useState({ width: 0, height: 0 });
  useEffect(() => {
    const target = element.current;
    if (!target) return;
    const measure = () =>
      setSize((current) =>
        current.width === target.clientWidth && current.height === target.clientHeight
          ? current
          : { width: target.clientWidth, height: target.clientHeight },
      );
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(target);
    return () => observer.disconnect();
  }, [element]);
  return size;
}
