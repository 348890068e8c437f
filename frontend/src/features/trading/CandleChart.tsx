import { useEffect, useRef } from "react";
import { CandlestickSeries, createChart, type IChartApi, type ISeriesApi, type UTCTimestamp } from "lightweight-charts";
import type { Candle } from "@/protocol";
import { formatSimTime } from "@/lib/format";

interface Props {
  candles: readonly Candle[];
  /** Bumped when a candle closes. */
  version: number;
  decimals: number;
}

/** Candles drawn by TradingView's lightweight-charts (loaded lazily; its logo is the attribution it asks for). */
export default function CandleChart({ candles, version, decimals }: Props) {
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
      timeScale: { timeVisible: true, secondsVisible: true, borderColor: "#30363d", tickMarkFormatter: (time: number) => formatSimTime(time * 1000).slice(0, -4) },
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

  useEffect(() => {
    const target = series.current;
    if (!target) return;
    const bar = (candle: Candle) => ({
      time: (candle.open_time_ms / 1000) as UTCTimestamp,
      open: candle.open,
      high: candle.high,
      low: candle.low,
      close: candle.close,
    });
    // Only the new candles are added, so a frame's work stays small however long the chart gets.
    if (drawn.current === 0 || candles.length < drawn.current) target.setData(candles.map(bar));
    else for (const candle of candles.slice(drawn.current)) target.update(bar(candle));
    drawn.current = candles.length;
  }, [candles, version]);

  return <div className="chart" ref={container} data-testid="chart" />;
}
