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

/** Candles drawn by TradingView's lightweight-charts (loaded lazily; its logo is the attribution it asks for). */
function CandleChart({ candles, version, decimals }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<ISeriesApi<"Candlestick"> | null>(null);
  const drawn = useRef(0);

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
    drawn.current = 0;
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
    // Nothing new, nothing drawn: the chart redraws whole on every change it is given.
    if (candles.length === drawn.current) return;
    // Only the new candles are added, so a frame's work stays small however long the chart gets.
    if (drawn.current === 0 || candles.length < drawn.current) target.setData(candles.map(bar));
    else for (const candle of candles.slice(drawn.current)) target.update(bar(candle));
    drawn.current = candles.length;
  };

  return <div className="chart" ref={container} data-testid="chart" />;
}

export default memo(CandleChart);
