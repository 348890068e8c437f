//! A client connection as the simulator sees it: an identity, an outbox the simulator fills from its shard thread,
//! and a wake-up for the transport task that drains it. Transports (direct WebSocket, API Gateway) differ only in
//! how frames reach the wire.
//!
//! # Invariants
//! - The simulator never waits for a client: it only appends to the outbox; a client too slow even after
//!   conflation is closed and resumes later from its last seq.
//! - Once closed, a link takes nothing more and wakes its transport to end.

use crate::outbox::{Outbox, OutboxLimits, PushOutcome};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tradesim_protocol::stream::{ServerMessage, SimId, UserId};
use tradesim_protocol::{BookSnapshot, Event};

/// Application-level heartbeat: a ping every `interval`; silence for `dead_after` ends the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub interval: Duration,
    pub dead_after: Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self { interval: Duration::from_secs(5), dead_after: Duration::from_secs(12) }
    }
}

static NEXT_LINK_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
pub struct Link {
    pub id: u64,
    pub user: UserId,
    pub sim: SimId,
    /// The transport's own name for the connection (API Gateway's connection id), for logs and pushes.
    pub connection_id: String,
    pub heartbeat: Heartbeat,
    outbox: Mutex<Outbox>,
    wake: Notify,
    closed: AtomicBool,
    hello: AtomicBool,
    /// When the client was last heard from (any frame), for the dead-link timeout.
    last_heard: Mutex<Instant>,
    /// When market data was last handed to the transport: the next may follow no sooner than the flush interval.
    last_market_data_flush: Mutex<Option<tokio::time::Instant>>,
}

impl Link {
    pub fn new(user: UserId, sim: SimId, connection_id: String, heartbeat: Heartbeat, limits: OutboxLimits) -> Self {
        Self {
            id: NEXT_LINK_ID.fetch_add(1, Ordering::Relaxed),
            user,
            sim,
            connection_id,
            heartbeat,
            outbox: Mutex::new(Outbox::new(limits)),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            hello: AtomicBool::new(false),
            last_heard: Mutex::new(Instant::now()),
            last_market_data_flush: Mutex::new(None),
        }
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn send(&self, message: ServerMessage) {
        if self.is_closed() {
            return;
        }
        self.outbox().push_message(message);
        self.wake.notify_one();
    }

    /// Queues events; the caller attaches books when asked to and closes the link when it overflowed.
    ///
    /// The transport is woken only when it has something new to do: the outbox was empty (the flush interval starts)
    /// or now holds something urgent. Market data added while it waits for the interval needs no wake-up, and a
    /// wake-up of a task on another thread is the dearest part of a push.
    pub fn push_events(&self, from: u64, to: u64, events: &[Event]) -> PushOutcome {
        if self.is_closed() {
            return PushOutcome::default();
        }
        let (outcome, wake) = {
            let mut outbox = self.outbox();
            let (was_empty, was_urgent) = (outbox.is_empty(), outbox.is_urgent());
            let outcome = outbox.push_events(from, to, events);
            (outcome, was_empty || (!was_urgent && outbox.is_urgent()))
        };
        if wake {
            self.wake.notify_one();
        }
        outcome
    }

    pub fn attach_books(&self, books: Vec<BookSnapshot>) {
        self.outbox().attach_books(books);
        self.wake.notify_one();
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn heard(&self) {
        *self.last_heard.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    pub fn silence(&self) -> Duration {
        self.last_heard.lock().unwrap_or_else(PoisonError::into_inner).elapsed()
    }

    pub fn said_hello(&self) {
        self.hello.store(true, Ordering::Release);
    }

    pub fn has_said_hello(&self) -> bool {
        self.hello.load(Ordering::Acquire)
    }

    pub fn queued_events(&self) -> usize {
        self.outbox().queued_events()
    }

    /// Waits for something to send and returns it as frames; `None` once the link is closed and everything queued
    /// before the close has been handed out. Market data alone waits until `flush_interval` has passed since the
    /// last market data went, so that a busy market costs one frame per interval, not one per step, while the first
    /// update of a quiet market, or the first after a welcome, an acknowledgement or a fill, goes at once.
    pub async fn next_frames(&self, flush_interval: Duration) -> Option<Vec<String>> {
        loop {
            let (empty, urgent) = {
                let outbox = self.outbox();
                (outbox.is_empty(), outbox.is_urgent())
            };
            if empty {
                if self.is_closed() {
                    return None;
                }
                self.wake.notified().await;
                continue;
            }
            if !urgent && !self.is_closed() {
                // Gather more market data, but go at once when something urgent arrives.
                let last_flush = *self.last_market_data_flush.lock().unwrap_or_else(PoisonError::into_inner);
                let deadline = last_flush.map_or_else(tokio::time::Instant::now, |at| at + flush_interval);
                while !self.outbox().is_urgent() && !self.is_closed() {
                    if tokio::time::timeout_at(deadline, self.wake.notified()).await.is_err() {
                        break;
                    }
                }
            }
            let frames = {
                let mut outbox = self.outbox();
                if outbox.holds_market_data() {
                    *self.last_market_data_flush.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(tokio::time::Instant::now());
                }
                outbox.drain_frames()
            };
            match frames {
                Ok(frames) if !frames.is_empty() => return Some(frames),
                Ok(_) => continue,
                Err(error) => {
                    tracing::error!(link = self.id, %error, "encoding frames failed");
                    self.close();
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradesim_protocol::{Bbo, EventBody, InstrumentId, Qty};

    const FLUSH: Duration = Duration::from_millis(25);

    fn link() -> Link {
        let (user, sim) = (UserId::parse("u1").unwrap(), SimId::parse("s1").unwrap());
        Link::new(user, sim, "c1".to_owned(), Heartbeat::default(), OutboxLimits::default())
    }

    fn bbo(seq: u64) -> Event {
        let body = EventBody::Bbo(Bbo {
            instrument: InstrumentId(1),
            bid_price: None,
            bid_qty: Qty(0),
            ask_price: None,
            ask_qty: Qty(0),
        });
        Event { seq, time_ms: seq, body }
    }

    /// How long `next_frames` held back what was queued (simulated time: the test's clock is paused).
    async fn held(link: &Link) -> Duration {
        let started = tokio::time::Instant::now();
        link.next_frames(FLUSH).await.expect("frames");
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn market_data_is_paced_against_earlier_market_data_only() {
        let link = link();
        link.push_events(1, 1, &[bbo(1)]);
        assert_eq!(held(&link).await, Duration::ZERO, "the first market data goes at once");
        link.push_events(2, 2, &[bbo(2)]);
        assert_eq!(held(&link).await, FLUSH, "the next waits for the interval");
        link.send(ServerMessage::Pong { nonce: 1 });
        assert_eq!(held(&link).await, Duration::ZERO, "anything else goes at once");
        link.push_events(3, 3, &[bbo(3)]);
        assert_eq!(held(&link).await, FLUSH, "and does not reopen the interval for market data");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_transport_wakes_for_new_work_and_for_urgent_messages_but_market_data_waits_its_interval() {
        let link = std::sync::Arc::new(link());
        let waiting = |link: &std::sync::Arc<Link>| {
            let link = std::sync::Arc::clone(link);
            tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                let frames = link.next_frames(FLUSH).await.expect("frames");
                (started.elapsed(), frames)
            })
        };
        let transport = waiting(&link);
        tokio::task::yield_now().await;
        link.push_events(1, 1, &[bbo(1)]);
        let (after, frames) = transport.await.unwrap();
        assert_eq!((after, frames.len()), (Duration::ZERO, 1), "the first market data goes at once");

        let transport = waiting(&link);
        link.push_events(2, 2, &[bbo(2)]);
        tokio::time::sleep(FLUSH / 5).await;
        link.push_events(3, 3, &[bbo(3)]);
        tokio::time::sleep(FLUSH / 5).await;
        assert!(!transport.is_finished(), "market data waits for the interval");
        link.send(ServerMessage::Pong { nonce: 1 });
        let (after, frames) = transport.await.unwrap();
        assert_eq!(after, FLUSH * 2 / 5, "an urgent message goes at once");
        assert!(frames[0].contains(r#""from":2,"to":3"#) && frames[1].contains("pong"), "{frames:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn market_data_after_other_frames_such_as_a_welcome_goes_at_once() {
        let link = link();
        link.send(ServerMessage::Pong { nonce: 1 });
        assert_eq!(held(&link).await, Duration::ZERO);
        link.push_events(1, 1, &[bbo(1)]);
        assert_eq!(held(&link).await, Duration::ZERO);
    }
}
