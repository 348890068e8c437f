/** Prices are integers in price units; `decimals` digits go after the point. */
export function formatPrice(price: number | null | undefined, decimals: number): string {
  if (price === null || price === undefined) return "—";
  return (price / 10 ** decimals).toFixed(decimals);
}

/** Money is price units times quantity units, so it has the same decimals as prices. */
export function formatMoney(amount: number | null | undefined, decimals: number): string {
  if (amount === null || amount === undefined) return "—";
  return (amount / 10 ** decimals).toLocaleString("en-US", {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

/** Parses a decimal price typed by a person into price units; null when it is not a number with at most `decimals` digits. */
export function parsePrice(text: string, decimals: number): number | null {
  const trimmed = text.trim();
  if (!/^\d+(\.\d*)?$/.test(trimmed)) return null;
  const [whole = "0", fraction = ""] = trimmed.split(".");
  if (fraction.length > decimals) return null;
  return Number(whole) * 10 ** decimals + Number(fraction.padEnd(decimals, "0") || "0");
}

/** Simulated time, `h:mm:ss.mmm` since the simulation started. */
export function formatSimTime(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1000);
  const millis = ms % 1000;
  return `${hours}:${String(minutes).padStart(2, "0")}:${String(seconds).padStart(2, "0")}.${String(millis).padStart(3, "0")}`;
}
