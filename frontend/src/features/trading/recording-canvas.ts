import type { Canvas2D } from "./palette";

/** A canvas context that records the text it is asked to draw, with the style it was drawn in (for tests). */
export class RecordingCanvas implements Canvas2D {
  fillStyle: Canvas2D["fillStyle"] = "#000";
  font = "10px sans-serif";
  textAlign: CanvasTextAlign = "start";
  textBaseline: CanvasTextBaseline = "alphabetic";
  readonly texts: { text: string; x: number; y: number; color: string; align: CanvasTextAlign }[] = [];
  readonly rects: { x: number; y: number; width: number; height: number; color: string }[] = [];
  clears = 0;

  clearRect(): void {
    this.clears += 1;
    this.texts.length = 0;
    this.rects.length = 0;
  }

  fillRect(x: number, y: number, width: number, height: number): void {
    this.rects.push({ x, y, width, height, color: String(this.fillStyle) });
  }

  fillText(text: string, x: number, y: number): void {
    this.texts.push({ text, x, y, color: String(this.fillStyle), align: this.textAlign });
  }

  /** The texts drawn on the row whose middle is at `y`. */
  row(y: number): string[] {
    return this.texts.filter((entry) => entry.y === y).map((entry) => entry.text);
  }
}
