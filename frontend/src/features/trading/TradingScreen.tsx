import { lazy, memo, Suspense, useCallback, useMemo, useState } from "react";
import { useFrameStore } from "@/lib/frame-store";
import type { SimConfig } from "@/protocol";
import { Blotter } from "./Blotter";
import type { LinkInfo, TradingActions } from "./link";
import { Ladder } from "./Ladder";
import { OrderEntry, type PickedPrice } from "./OrderEntry";
import { SimControls } from "./SimControls";
import { Tape } from "./Tape";
import { orderContext } from "./order-validation";
import type { TradingStore } from "./trading-store";

// The chart library is most of the JavaScript: it loads after the screen is up.
const CandleChart = lazy(() => import("./CandleChart"));

interface Props {
  store: TradingStore;
  config: SimConfig;
  link: LinkInfo;
  actions: TradingActions;
}

/** The trading screen: chart, depth ladder, tape, order entry, blotter and simulator controls. */
export const TradingScreen = memo(function TradingScreen({ store, config, link, actions }: Props) {
  const state = useFrameStore(store.snapshot);
  const [instrument, setInstrument] = useState(0);
  const [interval, setCandleInterval] = useState<"1s" | "1m">("1s");
  const [picked, setPicked] = useState<PickedPrice | null>(null);
  const instrumentConfig = config.instruments[instrument] ?? config.instruments[0]!;
  const decimals = instrumentConfig.price_decimals;
  const book = state.books[instrument];
  const ordersHere = useMemo(
    () => state.openOrders.filter((order) => order.instrument === instrument),
    [state.openOrders, instrument],
  );
  // The order form and the amends read the market (reference price, position, buying power) when they send, so a
  // moving market does not re-render them.
  const contextFor = useCallback(
    (index: number) => orderContext(store.snapshot.current(), config, index),
    [store, config],
  );
  const orderContextHere = useCallback(() => contextFor(instrument), [contextFor, instrument]);
  const symbol = useCallback((index: number) => config.instruments[index]?.symbol ?? `#${index}`, [config]);
  const pickPrice = useCallback((price: number, side: "buy" | "sell") => setPicked({ price, side }), []);

  return (
    <div className="trading">
      <div className="toolbar">
        {config.instruments.length > 1 ? (
          <select
            aria-label="instrument"
            value={instrument}
            onChange={(event) => setInstrument(Number(event.target.value))}
          >
            {config.instruments.map((entry, index) => (
              <option key={entry.symbol} value={index}>
                {entry.symbol}
              </option>
            ))}
          </select>
        ) : (
          <strong className="symbol">{instrumentConfig.symbol}</strong>
        )}
        <span className="box-slot">
          <span className="boxed last" data-testid="last-price">
            {book?.lastTradePrice != null ? (book.lastTradePrice / 10 ** decimals).toFixed(decimals) : "—"}
          </span>
        </span>
        {book?.halted && <span className="badge warn">halted</span>}
        <span className="muted">{config.scenario.replace("_", " ")}</span>
        <SimControls link={link} actions={actions} scenario={config.scenario} />
      </div>
      <section className="panel chart-panel">
        <header>
          <h3>Candles</h3>
          <div className="tabs">
            {(["1s", "1m"] as const).map((option) => (
              <button
                key={option}
                type="button"
                aria-selected={interval === option}
                onClick={() => setCandleInterval(option)}
              >
                {option}
              </button>
            ))}
          </div>
          <a className="muted attribution" href="https://www.tradingview.com/" target="_blank" rel="noreferrer">
            Charts by TradingView
          </a>
        </header>
        <Suspense fallback={<p className="muted pad">Loading chart…</p>}>
          <CandleChart
            candles={store.candles(instrument, interval)}
            version={state.candleVersion}
            decimals={decimals}
          />
        </Suspense>
      </section>
      <Ladder
        book={book}
        orders={ordersHere}
        tick={instrumentConfig.tick_size}
        decimals={decimals}
        onPickPrice={pickPrice}
      />
      <Tape trades={state.tape} decimals={decimals} />
      <OrderEntry
        context={orderContextHere}
        decimals={decimals}
        gate={link.gate}
        picked={picked}
        onSubmit={actions.submit}
      />
      <Blotter
        openOrders={state.openOrders}
        doneOrders={state.doneOrders}
        fills={state.fills}
        account={state.account}
        link={link}
        actions={actions}
        contextFor={contextFor}
        decimals={decimals}
        symbol={symbol}
      />
      {state.notices.length > 0 && (
        <div className="notices" role="status">
          {state.notices.map((text, index) => (
            <p key={index} className="notice warn">
              {text}
            </p>
          ))}
        </div>
      )}
    </div>
  );
});
