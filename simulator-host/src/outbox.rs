//! A connection's outbound queue: what the simulator has said that the client has not been sent yet, bounded, with
//! market data conflated for a slow client, and cut into frames under the API Gateway limit.
//!
//! # Invariants
//! - Sequenced events leave in seq order, as `events` messages whose `from..=to` ranges follow each other without
//!   a gap or an overlap.
//! - Only market data (book deltas, BBO, trades, candles) is ever dropped, and only together with a request for the
//!   current books, which go out at the end of the range that lost them. Everything else is delivered or the
//!   connection is closed (the client then resumes from its last seq and loses nothing).
//! - Every frame is at most [`MAX_FRAME_BYTES`].

use std::collections::VecDeque;
use tradesim_protocol::stream::{Envelope, MAX_FRAME_BYTES, ServerMessage};
use tradesim_protocol::{BookSnapshot, Event, EventBody};

/// True for the events a slow client may miss (the books it is sent instead say where the market stands).
pub fn is_market_data(event: &Event) -> bool {
    matches!(event.body, EventBody::BookDelta(_) | EventBody::Bbo(_) | EventBody::Trade(_) | EventBody::Candle(_))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Queued events past which market data is conflated.
    pub conflate_at: usize,
    /// Queued events (after conflation) past which the connection is closed as too slow.
    pub close_at: usize,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self { conflate_at: 4_096, close_at: 32_768 }
    }
}

#[derive(Debug)]
enum Item {
    Message(ServerMessage),
    Events { from: u64, to: u64, events: Vec<Event>, books: Vec<BookSnapshot> },
}

/// What a push did, for the simulator to act on and count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Market data was dropped: attach the current books with [`Outbox::attach_books`].
    pub needs_books: bool,
    /// Events dropped by conflation.
    pub conflated: usize,
    /// The client is too far behind even without market data: close it.
    pub overflowed: bool,
    /// Events queued after the push.
    pub queued: usize,
}

#[derive(Debug)]
pub struct Outbox {
    items: VecDeque<Item>,
    queued_events: usize,
    /// Items that must not wait for the market-data flush interval.
    urgent: bool,
    /// Whether any queued range carries market data (which the flush interval paces).
    market_data: bool,
    limits: OutboxLimits,
}

impl Outbox {
    pub fn new(limits: OutboxLimits) -> Self {
        Self { items: VecDeque::new(), queued_events: 0, urgent: false, market_data: false, limits }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether something is queued that the client should get without delay (anything but market data).
    pub fn is_urgent(&self) -> bool {
        self.urgent
    }

    /// Whether something queued is market data, so that sending it counts against the flush interval.
    pub fn holds_market_data(&self) -> bool {
        self.market_data
    }

    pub fn queued_events(&self) -> usize {
        self.queued_events
    }

    pub fn push_message(&mut self, message: ServerMessage) {
        self.urgent = true;
        self.items.push_back(Item::Message(message));
    }

    /// Queues events `from..=to` (`events` may be missing market data already conflated upstream; never other
    /// events).
    pub fn push_events(&mut self, from: u64, to: u64, events: &[Event]) -> PushOutcome {
        self.urgent |= events.iter().any(|event| !is_market_data(event));
        self.market_data |= events.iter().any(is_market_data);
        match self.items.back_mut() {
            Some(Item::Events { to: last_to, events: queued, books, .. })
                if *last_to + 1 == from && books.is_empty() =>
            {
                queued.extend_from_slice(events);
                *last_to = to;
            }
            _ => self.items.push_back(Item::Events { from, to, events: events.to_vec(), books: Vec::new() }),
        }
        self.queued_events += events.len();
        if self.queued_events <= self.limits.conflate_at {
            return PushOutcome { queued: self.queued_events, ..PushOutcome::default() };
        }
        let conflated = self.conflate();
        PushOutcome {
            needs_books: conflated > 0,
            conflated,
            overflowed: self.queued_events > self.limits.close_at,
            queued: self.queued_events,
        }
    }

    fn conflate(&mut self) -> usize {
        let mut dropped = 0;
        for item in &mut self.items {
            // Books already attached stay: they were right at their range's end.
            if let Item::Events { events, .. } = item {
                let before = events.len();
                events.retain(|event| !is_market_data(event));
                dropped += before - events.len();
            }
        }
        self.queued_events -= dropped;
        dropped
    }

    /// Attaches the current books (as of the last queued event) to the last queued range.
    pub fn attach_books(&mut self, snapshot: Vec<BookSnapshot>) {
        if let Some(Item::Events { books, .. }) = self.items.back_mut() {
            *books = snapshot;
            self.urgent = true;
            self.market_data = true;
        }
    }

    /// Takes everything queued and encodes it as frames of at most [`MAX_FRAME_BYTES`].
    pub fn drain_frames(&mut self) -> Result<Vec<String>, serde_json::Error> {
        let items = std::mem::take(&mut self.items);
        self.queued_events = 0;
        self.urgent = false;
        self.market_data = false;
        let mut frames = Vec::new();
        for item in items {
            match item {
                Item::Message(message) => frames.push(serde_json::to_string(&Envelope::new(message))?),
                Item::Events { from, to, events, books } => encode_events(from, to, &events, &books, &mut frames)?,
            }
        }
        Ok(frames)
    }
}

/// Room for the envelope around the events of one frame: `{"v":1,"type":"events","from":..,"to":..,"events":[]}`.
const ENVELOPE_BYTES: usize = 96;

fn encode_events(
    from: u64,
    to: u64,
    events: &[Event],
    books: &[BookSnapshot],
    frames: &mut Vec<String>,
) -> Result<(), serde_json::Error> {
    let books_json = if books.is_empty() { String::new() } else { serde_json::to_string(books)? };
    let encoded: Vec<String> = events.iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
    let mut start = 0;
    let mut range_from = from;
    loop {
        // Take events while they fit; the last frame of the range must also fit the books.
        let mut size = ENVELOPE_BYTES;
        let mut end = start;
        while end < encoded.len() && size + encoded[end].len() < MAX_FRAME_BYTES {
            size += encoded[end].len() + 1;
            end += 1;
        }
        if end == start && end < encoded.len() {
            end += 1; // an event larger than a frame still goes out, alone
        }
        let books_fit = size + books_json.len() + 10 <= MAX_FRAME_BYTES;
        if end == encoded.len() && !books_json.is_empty() && !books_fit && end > start + 1 {
            end -= 1; // leave an event for the frame that carries the books
        }
        let last = end == encoded.len();
        let range_to = if last { to } else { events[end - 1].seq };
        let mut frame = String::with_capacity(size + if last { books_json.len() + 10 } else { 0 });
        frame.push_str(&format!(r#"{{"v":1,"type":"events","from":{range_from},"to":{range_to},"events":["#));
        for (i, event) in encoded[start..end].iter().enumerate() {
            if i > 0 {
                frame.push(',');
            }
            frame.push_str(event);
        }
        frame.push(']');
        if last && !books_json.is_empty() {
            frame.push_str(r#","books":"#);
            frame.push_str(&books_json);
        }
        frame.push('}');
        frames.push(frame);
        if last {
            return Ok(());
        }
        start = end;
        range_from = range_to + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradesim_protocol::stream::{ErrorCode, STREAM_VERSION};
    use tradesim_protocol::{AccountUpdate, Bbo, BookLevel, InstrumentId, ParticipantId, Price, Qty, TradingStatus};

    fn bbo(seq: u64) -> Event {
        Event {
            seq,
            time_ms: seq,
            body: EventBody::Bbo(Bbo {
                instrument: InstrumentId(1),
                bid_price: None,
                bid_qty: Qty(0),
                ask_price: None,
                ask_qty: Qty(0),
            }),
        }
    }

    fn account(seq: u64) -> Event {
        Event {
            seq,
            time_ms: seq,
            body: EventBody::Account(AccountUpdate {
                participant: ParticipantId::USER,
                cash: 0,
                equity: 0,
                buying_power: 0,
                realized_pnl: 0,
                unrealized_pnl: 0,
                fees_paid: 0,
                positions: Vec::new(),
            }),
        }
    }

    fn book() -> BookSnapshot {
        BookSnapshot {
            instrument: InstrumentId(1),
            bids: vec![BookLevel { price: Price(100), qty: Qty(5), orders: 1 }],
            asks: Vec::new(),
            last_trade_price: None,
            status: TradingStatus { instrument: InstrumentId(1), halted: false, resumes_at_ms: None },
        }
    }

    fn decode(frames: &[String]) -> Vec<ServerMessage> {
        frames
            .iter()
            .map(|frame| {
                assert!(frame.len() <= MAX_FRAME_BYTES, "frame of {} bytes", frame.len());
                let envelope: Envelope<ServerMessage> = serde_json::from_str(frame).unwrap();
                assert_eq!(envelope.v, STREAM_VERSION);
                envelope.message
            })
            .collect()
    }

    /// The ranges of the events messages, checked to be contiguous, and all events in order.
    fn ranges(messages: &[ServerMessage]) -> (Vec<(u64, u64)>, Vec<u64>) {
        let mut ranges = Vec::new();
        let mut seqs = Vec::new();
        for message in messages {
            if let ServerMessage::Events { from, to, events, .. } = message {
                if let Some(&(_, last)) = ranges.last() {
                    assert_eq!(*from, last + 1, "ranges are contiguous");
                }
                assert!(events.iter().all(|e| (*from..=*to).contains(&e.seq)));
                ranges.push((*from, *to));
                seqs.extend(events.iter().map(|e| e.seq));
            }
        }
        (ranges, seqs)
    }

    #[test]
    fn contiguous_pushes_merge_and_large_ranges_split_under_the_frame_limit() {
        let mut outbox = Outbox::new(OutboxLimits { conflate_at: 100_000, close_at: 200_000 });
        let events: Vec<Event> = (1..=3_000).map(account).collect();
        outbox.push_events(1, 1_000, &events[..1_000]);
        outbox.push_events(1_001, 3_000, &events[1_000..]);
        let frames = outbox.drain_frames().unwrap();
        assert!(frames.len() > 2, "3,000 account updates need several frames");
        let (ranges, seqs) = ranges(&decode(&frames));
        assert_eq!(ranges.first().unwrap().0, 1);
        assert_eq!(ranges.last().unwrap().1, 3_000);
        assert_eq!(seqs, (1..=3_000).collect::<Vec<_>>());
        assert!(outbox.is_empty());
    }

    #[test]
    fn a_slow_client_loses_only_market_data_and_gets_books_instead() {
        let mut outbox = Outbox::new(OutboxLimits { conflate_at: 10, close_at: 50 });
        let events: Vec<Event> = (1..=20).map(|seq| if seq % 5 == 0 { account(seq) } else { bbo(seq) }).collect();
        let outcome = outbox.push_events(1, 20, &events);
        assert!(outcome.needs_books);
        assert_eq!(outcome.conflated, 16);
        assert!(!outcome.overflowed);
        outbox.attach_books(vec![book()]);
        let messages = decode(&outbox.drain_frames().unwrap());
        let (ranges, seqs) = ranges(&messages);
        assert_eq!(ranges, vec![(1, 20)]);
        assert_eq!(seqs, vec![5, 10, 15, 20]);
        let ServerMessage::Events { books, .. } = &messages[0] else { panic!("events expected") };
        assert_eq!(books, &vec![book()]);
    }

    #[test]
    fn a_client_that_reads_nothing_overflows() {
        let mut outbox = Outbox::new(OutboxLimits { conflate_at: 10, close_at: 50 });
        let events: Vec<Event> = (1..=60).map(account).collect();
        assert!(outbox.push_events(1, 60, &events).overflowed);
    }

    #[test]
    fn messages_keep_their_place_between_ranges() {
        let mut outbox = Outbox::new(OutboxLimits::default());
        outbox.push_events(1, 2, &[bbo(1), bbo(2)]);
        assert!(!outbox.is_urgent(), "market data alone may wait for the flush interval");
        outbox.push_message(ServerMessage::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            request_id: None,
            retry_after_ms: Some(10),
        });
        assert!(outbox.is_urgent());
        outbox.push_events(3, 3, &[bbo(3)]);
        let messages = decode(&outbox.drain_frames().unwrap());
        assert_eq!(messages.len(), 3);
        assert!(matches!(messages[1], ServerMessage::Error { code: ErrorCode::RateLimited, .. }));
        assert_eq!(ranges(&messages).0, vec![(1, 2), (3, 3)]);
    }
}
