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
    /// When frames were last handed to the transport, which paces market data.
    last_flush: Mutex<Option<tokio::time::Instant>>,
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
            last_flush: Mutex::new(None),
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
    pub fn push_events(&self, from: u64, to: u64, events: &[Event]) -> PushOutcome {
        if self.is_closed() {
            return PushOutcome::default();
        }
        let outcome = self.outbox().push_events(from, to, events);
        self.wake.notify_one();
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
    /// last frames, so that a busy market costs one frame per interval, not one per step, while the first update
    /// of a quiet one goes at once.
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
                let last_flush = *self.last_flush.lock().unwrap_or_else(PoisonError::into_inner);
                let deadline = last_flush.map_or_else(tokio::time::Instant::now, |at| at + flush_interval);
                while !self.outbox().is_urgent() && !self.is_closed() {
                    if tokio::time::timeout_at(deadline, self.wake.notified()).await.is_err() {
                        break;
                    }
                }
            }
            let frames = self.outbox().drain_frames();
            *self.last_flush.lock().unwrap_or_else(PoisonError::into_inner) = Some(tokio::time::Instant::now());
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
