import { FrameStore, type FrameScheduler } from "@/lib/frame-store";
import type { StreamSink } from "@/lib/stream-sink";
import type {
  AccountUpdate,
  BookLevel,
  BookSnapshot,
  Candle,
  EngineView,
  Event,
  OrderEntry,
  OrderOutcome,
} from "@/protocol";
import {
  applyAccount,
  applyExecution,
  applyOrderAck,
  applyQueuePosition,
  emptyBlotter,
  rowFromOpenOrder,
  type Blotter,
  type Fill,
  type OrderRow,
} from "./blotter";
import {
  applyBookDelta,
  applyTrade,
  bookFromSnapshot,
  bookToSnapshot,
  emptyBook,
  sortedLevels,
  type Book,
} from "./book";

export interface TapeTrade {
  seq: number;
  timeMs: number;
  price: number;
  qty: number;
  aggressor: "buy" | "sell";
}

export interface BookView {
  bids: BookLevel[];
  asks: BookLevel[];
  lastTradePrice: number | null;
  halted: boolean;
  resumesAtMs: number | null;
}

/** What the trading screen renders; a new object at most once per animation frame. */
export interface TradingSnapshot {
  timeMs: number;
  books: BookView[];
  openOrders: OrderRow[];
  doneOrders: OrderRow[];
  fills: Fill[];
  account: AccountUpdate | null;
  tape: TapeTrade[];
  /** Bumped whenever a candle closes; the chart reads `candles()`. */
  candleVersion: number;
  notices: string[];
  /** Market-data and order events applied since the page opened. */
  eventsApplied: number;
}

const MAX_TAPE = 40;
const NO_CANDLES: readonly Candle[] = Object.freeze([]);
const MAX_CANDLES = 5_000;
const MAX_NOTICES = 5;

interface Persisted {
  version: 1;
  timeMs: number;
  books: BookSnapshot[];
  open: OrderRow[];
  done: OrderRow[];
  fills: Fill[];
  account: AccountUpdate | null;
  tape: TapeTrade[];
}

/**
 * The user's view of one simulator, built from the stream: books, orders, fills, positions, tape and candles.
 * Writes are in place; `snapshot` publishes an immutable copy once per frame.
 */
export class TradingStore implements StreamSink {
  readonly snapshot: FrameStore<TradingSnapshot>;

  private books: Book[] = [];
  private blotter: Blotter = emptyBlotter();
  private tape: TapeTrade[] = [];
  private readonly candleSeries = new Map<string, Candle[]>();
  private candleVersion = 0;
  private timeMs = 0;
  private notices: string[] = [];
  private eventsApplied = 0;
  /** What changed since the last build: unchanged parts keep their arrays, so memoized components skip them. */
  private readonly dirtyBooks = new Set<number>();
  private blotterDirty = true;
  private tapeDirty = true;
  private last: TradingSnapshot | null = null;

  constructor(schedule?: FrameScheduler) {
    this.snapshot = new FrameStore(this.build(), schedule);
  }

  // ---- StreamSink ----

  reset(view: EngineView): void {
    this.timeMs = view.time_ms;
    this.books = [];
    for (const snapshot of view.books) this.books[snapshot.instrument] = bookFromSnapshot(snapshot);
    const entries = this.blotter.entries;
    const previous = this.blotter;
    this.blotter = emptyBlotter();
    this.blotter.entries = entries;
    this.blotter.fills = previous.fills;
    this.blotter.done = previous.done;
    for (const order of view.open_orders) {
      const row = rowFromOpenOrder(order, view.time_ms);
      this.blotter.open.set(row.key, row);
    }
    this.blotter.account = view.account;
    this.changed();
  }

  apply(events: Event[], books: BookSnapshot[]): void {
    for (const event of events) this.applyEvent(event);
    for (const snapshot of books) this.books[snapshot.instrument] = bookFromSnapshot(snapshot);
    for (const snapshot of books) this.dirtyBooks.add(snapshot.instrument);
    this.eventsApplied += events.length;
    this.changed(false);
  }

  orderAck(clientOrderId: string, outcome: OrderOutcome): void {
    applyOrderAck(this.blotter, clientOrderId, outcome);
    if (outcome.status === "duplicate_elsewhere")
      this.notice(`Order ${clientOrderId} was not entered: its id was used before.`);
    this.changed();
  }

  persist(): Persisted {
    return {
      version: 1,
      timeMs: this.timeMs,
      books: this.books.map((book, instrument) => bookToSnapshot(instrument, book)),
      open: [...this.blotter.open.values()],
      done: this.blotter.done.slice(0, 50),
      fills: this.blotter.fills.slice(0, 100),
      account: this.blotter.account,
      tape: this.tape,
    };
  }

  restore(saved: unknown): boolean {
    const state = saved as Partial<Persisted> | null;
    if (!state || state.version !== 1 || !Array.isArray(state.books) || !Array.isArray(state.open)) return false;
    this.timeMs = state.timeMs ?? 0;
    this.books = [];
    for (const snapshot of state.books) this.books[snapshot.instrument] = bookFromSnapshot(snapshot);
    this.blotter = emptyBlotter();
    for (const row of state.open) this.blotter.open.set(row.key, row);
    this.blotter.done = state.done ?? [];
    this.blotter.fills = state.fills ?? [];
    this.blotter.account = state.account ?? null;
    this.tape = state.tape ?? [];
    this.changed();
    return true;
  }

  // ---- what the screen asks ----

  /** Remembers an order being sent, so its rows can show its type and time in force. */
  orderSent(entry: OrderEntry): void {
    this.blotter.entries.set(entry.client_order_id, entry);
  }

  /** Closed candles of one instrument and interval, oldest first. */
  candles(instrument: number, interval: "1s" | "1m"): readonly Candle[] {
    // The same empty list every time, so the memoized chart does not take "no candles yet" for a change.
    return this.candleSeries.get(`${instrument}/${interval}`) ?? NO_CANDLES;
  }

  /** The working order with this client order id or order id, if the stream knows it. */
  openOrder(key: string): OrderRow | undefined {
    return this.blotter.open.get(key);
  }

  notice(text: string): void {
    this.notices = [text, ...this.notices].slice(0, MAX_NOTICES);
    this.changed();
  }

  // ---- internals ----

  private book(instrument: number): Book {
    this.dirtyBooks.add(instrument);
    let book = this.books[instrument];
    if (!book) {
      book = emptyBook();
      this.books[instrument] = book;
    }
    return book;
  }

  private applyEvent(event: Event): void {
    this.timeMs = event.time_ms;
    switch (event.type) {
      case "book_delta":
        applyBookDelta(this.book(event.instrument), event);
        return;
      case "trade":
        this.tapeDirty = true;
        applyTrade(this.book(event.instrument), event);
        this.tape.unshift({
          seq: event.seq,
          timeMs: event.time_ms,
          price: event.price,
          qty: event.qty,
          aggressor: event.aggressor,
        });
        if (this.tape.length > MAX_TAPE) this.tape.length = MAX_TAPE;
        return;
      case "bbo":
        return;
      case "candle": {
        const key = `${event.instrument}/${event.interval}`;
        const series = this.candleSeries.get(key) ?? [];
        series.push(event);
        if (series.length > MAX_CANDLES) series.splice(0, series.length - MAX_CANDLES);
        this.candleSeries.set(key, series);
        this.candleVersion += 1;
        return;
      }
      case "execution_report":
        this.blotterDirty = true;
        applyExecution(this.blotter, event);
        return;
      case "queue_position":
        this.blotterDirty = true;
        applyQueuePosition(this.blotter, event);
        return;
      case "account":
        this.blotterDirty = true;
        applyAccount(this.blotter, event);
        return;
      case "trading_status": {
        const book = this.book(event.instrument);
        book.halted = event.halted;
        book.resumesAtMs = event.resumes_at_ms;
        return;
      }
      case "request_rejected":
        this.notice(
          `The ${event.request} of order ${event.client_order_id ?? event.order_id ?? "?"} was refused: ${event.reason.replaceAll("_", " ")}.`,
        );
        return;
    }
  }

  /** Something outside the event stream changed (a reset, a restore, an ack, a notice): rebuild everything. */
  private changed(everything = true): void {
    if (everything) {
      this.blotterDirty = true;
      this.tapeDirty = true;
      this.books.forEach((_, instrument) => this.dirtyBooks.add(instrument));
    }
    this.snapshot.invalidate(() => this.build());
  }

  private build(): TradingSnapshot {
    const last = this.last;
    const books = this.books.map((book, instrument) => {
      const previous = last?.books[instrument];
      if (previous && !this.dirtyBooks.has(instrument)) return previous;
      return {
        ...sortedLevels(book),
        lastTradePrice: book.lastTradePrice,
        halted: book.halted,
        resumesAtMs: book.resumesAtMs,
      };
    });
    const snapshot: TradingSnapshot = {
      timeMs: this.timeMs,
      books,
      openOrders: this.blotterDirty || !last ? [...this.blotter.open.values()] : last.openOrders,
      doneOrders: this.blotter.done,
      fills: this.blotter.fills,
      account: this.blotter.account,
      tape: this.tapeDirty || !last ? [...this.tape] : last.tape,
      candleVersion: this.candleVersion,
      notices: this.notices,
      eventsApplied: this.eventsApplied,
    };
    this.dirtyBooks.clear();
    this.blotterDirty = false;
    this.tapeDirty = false;
    this.last = snapshot;
    return snapshot;
  }
}
