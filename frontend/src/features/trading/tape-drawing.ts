import { formatPrice, formatSimTime } from "@/lib/format";
import { PALETTE, type Canvas2D } from "./palette";
import type { TapeTrade } from "./trading-store";

export const TAPE_ROW_HEIGHT = 18;
const PADDING = 6;

/**
 * Draws the newest trades, one row each from the top (time, price in the aggressor's colour, quantity), as many as
 * fit: a trade a frame moves every row down, which on a canvas is one repaint of one bitmap.
 */
export function drawTape(
  context: Canvas2D,
  trades: readonly TapeTrade[],
  view: { width: number; height: number },
  decimals: number,
): void {
  context.clearRect(0, 0, view.width, view.height);
  const column = view.width / 3;
  const fit = Math.min(trades.length, Math.ceil(view.height / TAPE_ROW_HEIGHT));
  context.font = `11px ${PALETTE.mono}`;
  context.textBaseline = "middle";
  for (let row = 0; row < fit; row++) {
    const trade = trades[row]!;
    const middle = row * TAPE_ROW_HEIGHT + TAPE_ROW_HEIGHT / 2;
    context.textAlign = "left";
    context.fillStyle = PALETTE.muted;
    context.fillText(formatSimTime(trade.timeMs), PADDING, middle);
    context.textAlign = "right";
    context.fillStyle = trade.aggressor === "buy" ? PALETTE.up : PALETTE.down;
    context.fillText(formatPrice(trade.price, decimals), 2 * column - PADDING, middle);
    context.fillStyle = PALETTE.text;
    context.fillText(String(trade.qty), 3 * column - PADDING, middle);
  }
}
