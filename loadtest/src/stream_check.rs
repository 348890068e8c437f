//! The client side of the sequence rules (docs/protocol.md, "Sequence rules"), checking as it applies: every
//! `events` frame must continue the stream exactly (its `from` one past the last seq applied), and the events
//! inside a frame must be in seq order within its range. Conflation may leave holes inside a range; nothing else
//! may go missing, come twice or come out of order.
//!
//! # Invariants
//! - `last_applied` only grows, except when a snapshot replaces the client's state.
//! - Between `hello` and `welcome` frames are ignored, as the protocol says; after the welcome, a frame at or
//!   below `last_applied` is a duplicate, and one past `last_applied + 1` a gap.

use tradesim_protocol::Event;
use tradesim_protocol::stream::ResumeMode;

/// What went wrong in one client's stream. Every count must end at zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    /// Frames that skipped ahead of `last_applied + 1`.
    pub gaps: u64,
    /// Seqs those gaps skipped.
    pub skipped: u64,
    /// Events (or empty frames) delivered again after they were applied.
    pub duplicates: u64,
    /// Events out of seq order or outside their frame's range, and frames in the wrong phase.
    pub reordered: u64,
}

impl Violations {
    pub fn add(&mut self, other: &Self) {
        self.gaps += other.gaps;
        self.skipped += other.skipped;
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// `hello` sent; frames until the welcome are ignored.
    AwaitingWelcome,
    /// A snapshot standing at `seq` is arriving in chunks.
    Snapshot {
        seq: u64,
        chunks: Vec<String>,
    },
    Live,
}

/// What to do with an `events` frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Apply these events (the ones past `last_applied`, in order).
    Apply(Vec<&'a Event>),
    /// Nothing to apply.
    Ignore,
    /// A gap: resync with `hello` from [`StreamChecker::last_applied`].
    Gap,
}

/// One client's position in its simulator's stream.
#[derive(Clone, Debug)]
pub struct StreamChecker {
    last_applied: u64,
    phase: Phase,
    /// The welcome's seq: the connection is live once the stream has reached it.
    catching_up_to: Option<u64>,
    violations: Violations,
}

impl Default for StreamChecker {
    fn default() -> Self {
        Self { last_applied: 0, phase: Phase::AwaitingWelcome, catching_up_to: None, violations: Violations::default() }
    }
}

impl StreamChecker {
    pub fn last_applied(&self) -> u64 {
        self.last_applied
    }

    pub fn violations(&self) -> Violations {
        self.violations
    }

    /// The client sent `hello` with [`Self::last_applied`].
    pub fn hello_sent(&mut self) {
        self.phase = Phase::AwaitingWelcome;
        self.catching_up_to = None;
    }

    /// A `welcome` at `seq`. A welcome nobody asked for is out of order.
    pub fn welcome(&mut self, seq: u64, resume: ResumeMode) {
        if self.phase != Phase::AwaitingWelcome {
            self.violations.reordered += 1;
        }
        self.phase = match resume {
            ResumeMode::Replay => Phase::Live,
            ResumeMode::Snapshot => Phase::Snapshot { seq, chunks: Vec::new() },
        };
        self.catching_up_to = Some(seq);
    }

    /// One snapshot chunk; the whole snapshot's JSON once its last chunk is in. The stream then stands at the
    /// snapshot's seq.
    pub fn snapshot_chunk(&mut self, seq: u64, chunk: u32, chunks: u32, data: String) -> Option<String> {
        let Phase::Snapshot { seq: expected, chunks: received } = &mut self.phase else {
            self.violations.reordered += 1;
            return None;
        };
        if seq != *expected || chunk as usize != received.len() {
            self.violations.reordered += 1;
            return None;
        }
        received.push(data);
        if received.len() < chunks as usize {
            return None;
        }
        let whole = received.concat();
        self.last_applied = seq;
        self.phase = Phase::Live;
        Some(whole)
    }

    /// Checks an `events` frame `from..=to` against the stream and says what to apply.
    pub fn events<'a>(&mut self, from: u64, to: u64, events: &'a [Event]) -> Frame<'a> {
        match self.phase {
            Phase::AwaitingWelcome => return Frame::Ignore,
            Phase::Snapshot { .. } => {
                self.violations.reordered += 1;
                return Frame::Ignore;
            }
            Phase::Live => {}
        }
        if to < from {
            self.violations.reordered += 1;
            return Frame::Ignore;
        }
        if to <= self.last_applied {
            self.violations.duplicates += events.len().max(1) as u64;
            return Frame::Ignore;
        }
        if from > self.last_applied + 1 {
            self.violations.gaps += 1;
            self.violations.skipped += from - self.last_applied - 1;
            return Frame::Gap;
        }
        let mut previous = None;
        let mut apply = Vec::with_capacity(events.len());
        for event in events {
            let seq = event.seq;
            if seq < from || seq > to || previous.is_some_and(|p| seq < p) {
                self.violations.reordered += 1;
            } else if previous == Some(seq) || seq <= self.last_applied {
                self.violations.duplicates += 1;
            } else {
                apply.push(event);
            }
            previous = Some(previous.map_or(seq, |p: u64| p.max(seq)));
        }
        self.last_applied = to;
        Frame::Apply(apply)
    }

    /// Whether the connection has caught up with its welcome (the replay or the snapshot is applied). Reports
    /// it once per welcome.
    pub fn take_caught_up(&mut self) -> bool {
        match self.catching_up_to {
            Some(seq) if self.phase == Phase::Live && self.last_applied >= seq => {
                self.catching_up_to = None;
                true
            }
            _ => false,
        }
    }

    /// Whether the client applies what comes (not waiting for a welcome or a snapshot).
    pub fn is_live(&self) -> bool {
        self.phase == Phase::Live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use tradesim_protocol::{Bbo, EventBody, InstrumentId, Qty};

    fn event(seq: u64) -> Event {
        let bbo =
            Bbo { instrument: InstrumentId(0), bid_price: None, bid_qty: Qty(0), ask_price: None, ask_qty: Qty(0) };
        Event { seq, time_ms: seq, body: EventBody::Bbo(bbo) }
    }

    /// A frame `from..=to` holding the events at `seqs`.
    fn frame(from: u64, to: u64, seqs: &[u64]) -> (u64, u64, Vec<Event>) {
        (from, to, seqs.iter().map(|&seq| event(seq)).collect())
    }

    /// Feeds frames to a checker that was welcomed with a replay after seq 10.
    fn run(frames: &[(u64, u64, Vec<Event>)]) -> (StreamChecker, Vec<Vec<u64>>) {
        let mut checker = StreamChecker { last_applied: 10, ..StreamChecker::default() };
        checker.hello_sent();
        checker.welcome(10, ResumeMode::Replay);
        let applied = frames
            .iter()
            .map(|(from, to, events)| match checker.events(*from, *to, events) {
                Frame::Apply(events) => events.iter().map(|e| e.seq).collect(),
                Frame::Ignore | Frame::Gap => Vec::new(),
            })
            .collect();
        (checker, applied)
    }

    #[rstest]
    #[case::contiguous(vec![frame(11, 12, &[11, 12]), frame(13, 15, &[13, 14, 15])], Violations::default(), 15)]
    #[case::holes_inside_a_range_are_conflation(vec![frame(11, 20, &[11, 19]), frame(21, 21, &[])], Violations::default(), 21)]
    #[case::gap(vec![frame(11, 12, &[11, 12]), frame(15, 16, &[15, 16])], Violations { gaps: 1, skipped: 2, ..Violations::default() }, 12)]
    #[case::whole_frame_again(vec![frame(11, 12, &[11, 12]), frame(11, 12, &[11, 12])], Violations { duplicates: 2, ..Violations::default() }, 12)]
    #[case::empty_frame_again(vec![frame(11, 12, &[]), frame(12, 12, &[])], Violations { duplicates: 1, ..Violations::default() }, 12)]
    #[case::overlapping_frame(vec![frame(11, 13, &[11, 12, 13]), frame(12, 14, &[12, 13, 14])], Violations { duplicates: 2, ..Violations::default() }, 14)]
    #[case::same_seq_twice_in_a_frame(vec![frame(11, 13, &[11, 12, 12, 13])], Violations { duplicates: 1, ..Violations::default() }, 13)]
    #[case::out_of_order_in_a_frame(vec![frame(11, 13, &[11, 13, 12])], Violations { reordered: 1, ..Violations::default() }, 13)]
    #[case::outside_its_range(vec![frame(11, 12, &[11, 12, 14])], Violations { reordered: 1, ..Violations::default() }, 12)]
    #[case::backwards_range(vec![frame(12, 11, &[])], Violations { reordered: 1, ..Violations::default() }, 10)]
    fn frames_are_checked_against_the_stream(
        #[case] frames: Vec<(u64, u64, Vec<Event>)>,
        #[case] expected: Violations,
        #[case] last_applied: u64,
    ) {
        let (checker, _) = run(&frames);
        assert_eq!(checker.violations(), expected);
        assert_eq!(checker.last_applied(), last_applied);
    }

    #[test]
    fn only_the_events_past_the_last_applied_seq_are_applied_in_order() {
        let (_, applied) = run(&[frame(11, 13, &[11, 12, 13]), frame(12, 15, &[12, 14, 15]), frame(16, 17, &[17, 16])]);
        assert_eq!(applied, vec![vec![11, 12, 13], vec![14, 15], vec![17]]);
    }

    #[test]
    fn frames_before_the_welcome_are_ignored_and_a_resync_continues_the_stream() {
        let (mut checker, _) = run(&[frame(11, 12, &[11, 12]), frame(20, 21, &[20, 21])]);
        assert_eq!(checker.violations().gaps, 1);
        checker.hello_sent();
        // Queued before the hello: ignored without counting.
        assert_eq!(checker.events(22, 23, &[event(22)]), Frame::Ignore);
        checker.welcome(23, ResumeMode::Replay);
        assert!(!checker.take_caught_up());
        assert_eq!(checker.events(13, 23, &[event(13), event(23)]), Frame::Apply(vec![&event(13), &event(23)]));
        assert!(checker.take_caught_up());
        assert!(!checker.take_caught_up(), "reported once per welcome");
        assert_eq!(checker.violations(), Violations { gaps: 1, skipped: 7, ..Violations::default() });
    }

    #[test]
    fn a_snapshot_in_chunks_moves_the_stream_to_its_seq() {
        let mut checker = StreamChecker::default();
        checker.hello_sent();
        checker.welcome(40, ResumeMode::Snapshot);
        assert_eq!(checker.events(41, 41, &[event(41)]), Frame::Ignore, "no events before the snapshot");
        assert_eq!(checker.snapshot_chunk(40, 0, 2, "{\"a\":".into()), None);
        assert_eq!(checker.snapshot_chunk(40, 1, 2, "1}".into()).as_deref(), Some("{\"a\":1}"));
        assert!(checker.take_caught_up());
        assert_eq!(checker.last_applied(), 40);
        assert_eq!(checker.events(41, 41, &[event(41)]), Frame::Apply(vec![&event(41)]));
        // The early frame and nothing else.
        assert_eq!(checker.violations(), Violations { reordered: 1, ..Violations::default() });
        // A chunk out of its place, and a welcome nobody asked for.
        checker.welcome(41, ResumeMode::Snapshot);
        assert_eq!(checker.snapshot_chunk(41, 1, 2, "x".into()), None);
        assert_eq!(checker.violations().reordered, 3);
    }
}
