import { memo, useEffect, useRef } from "react";
import { CandlestickSeries, createChart, type IChartApi, type ISeriesApi, type UTCTimestamp } from "lightweight-charts";
import type { Candle } from "@/protocol";
import { formatSimTime } from "@/lib/format";

interface Props {
  candles: readonly Candle[];
  /** Bumped when a candle closes. */
  version: number;
  decimals: number;
}

const REDRAW_MS = 250;
/** More new candles than this in one redraw are drawn by replacing the data, not by one update each. */
const MAX_UPDATES = 8;

/** Candles drawn by TradingView's lightweight-charts (loaded lazily; its logo is the attribution it asks for). */
function CandleChart({ candles, version, decimals }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<ISeriesApi<"Candlestick"> | null>(null);
  /** The series last given to the chart and its newest candle's open time: what the chart already has. */
  const drawn = useRef<{ series: readonly Candle[]; newest: number } | null>(null);

  useEffect(() => {
    if (!container.current) return;
    const created = createChart(container.current, {
      autoSize: true,
      layout: { background: { color: "#0d1117" }, textColor: "#8b949e", fontSize: 11, attributionLogo: true },
      grid: { vertLines: { color: "#161b22" }, horzLines: { color: "#161b22" } },
      timeScale: {
        timeVisible: true,
        secondsVisible: true,
        borderColor: "#30363d",
        tickMarkFormatter: (time: number) => formatSimTime(time * 1000).slice(0, -4),
      },
      rightPriceScale: { borderColor: "#30363d" },
      localization: {
        timeFormatter: (time: number) => formatSimTime(time * 1000),
        priceFormatter: (price: number) => (price / 10 ** decimals).toFixed(decimals),
      },
    });
    series.current = created.addSeries(CandlestickSeries, {
      upColor: "#26a69a",
      downColor: "#ef5350",
      borderVisible: false,
      wickUpColor: "#26a69a",
      wickDownColor: "#ef5350",
    });
    chart.current = created;
    drawn.current = null;
    return () => {
      created.remove();
      chart.current = null;
      series.current = null;
    };
  }, [decimals]);

  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef(candles);
  latest.current = candles;

  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current);
    },
    [],
  );

  // Candles close up to 100 times a second at 100x; the chart redraws at most every REDRAW_MS.
  useEffect(() => {
    if (pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      draw(latest.current);
    }, REDRAW_MS);
  }, [candles, version]);

  const draw = (candles: readonly Candle[]) => {
    const target = series.current;
    if (!target) return;
    const bar = (candle: Candle) => ({
      time: (candle.open_time_ms / 1000) as UTCTimestamp,
      open: candle.open,
      high: candle.high,
      low: candle.low,
      close: candle.close,
    });
    const newest = candles[candles.length - 1]?.open_time_ms ?? -1;
    const last = drawn.current;
    // Nothing new, nothing drawn: the chart redraws whole on every change it is given.
    if (last && last.series === candles && last.newest === newest) return;
    drawn.current = { series: candles, newest };
    if (!last || last.series !== candles || newest < last.newest) {
      target.setData(candles.map(bar));
      return;
    }
    // The candles closed since the last draw (the series is capped, so count them from the end, not by length).
    let from = candles.length;
    while (from > 0 && candles[from - 1]!.open_time_ms > last.newest) from -= 1;
    // A few are added one by one; many (100 a second at 100x) at once, in one pass rather than one update each.
    if (candles.length - from > MAX_UPDATES) target.setData(candles.map(bar));
    else for (const candle of candles.slice(from)) target.update(bar(candle));
  };

  return <div className="chart" ref={container} data-testid="chart" />;
}

export default memo(CandleChart);
