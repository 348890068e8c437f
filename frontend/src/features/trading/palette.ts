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
