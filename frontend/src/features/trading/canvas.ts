import { useEffect, useState, type RefObject } from "react";

/** The part of a 2D canvas context the screen's drawings use, so tests can record what they draw. */
export type Canvas2D = Pick<
  CanvasRenderingContext2D,
  "clearRect" | "fillRect" | "fillText" | "fillStyle" | "font" | "textAlign" | "textBaseline"
>;

/** The stylesheet's colours (styles.css :root), for what is drawn on canvases. */
export const PALETTE = {
  text: "#d6dde6",
  muted: "#7d8794",
  up: "#26a69a",
  down: "#ef5350",
  warn: "#e3b341",
  bidBar: "rgb(38 166 154 / 22%)",
  askBar: "rgb(239 83 80 / 22%)",
  lastTrade: "#243042",
  mono: 'ui-monospace, "SFMono-Regular", "Menlo", "Consolas", monospace',
} as const;

/**
 * Sizes a canvas's bitmap to its CSS size times the device pixel ratio (only when that changed: resizing clears
 * it) and returns its context scaled to CSS pixels.
 */
export function fitCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D | null {
  const ratio = window.devicePixelRatio || 1;
  const pixelsWide = Math.max(1, Math.round(width * ratio));
  const pixelsHigh = Math.max(1, Math.round(height * ratio));
  if (canvas.width !== pixelsWide || canvas.height !== pixelsHigh) {
    canvas.width = pixelsWide;
    canvas.height = pixelsHigh;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  }
  const context = canvas.getContext("2d");
  context?.setTransform(ratio, 0, 0, ratio, 0, 0);
  return context;
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
