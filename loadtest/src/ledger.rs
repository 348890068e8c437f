//! One virtual user's orders as it sent them and as the server answered: every attempt, every `order_ack`, the
//! execution reports and account updates of its stream. It checks as it goes (one outcome per client order id,
//! one order per client order id, an ack only for an attempt) and, at the end, that each acknowledged order's
//! first report was delivered and that its working orders, positions and cash are the server's (a fresh snapshot).
//!
//! # Invariants
//! - Attempts are counted per connection: an ack with no attempt outstanding on the connection is a duplicate.
//! - A snapshot replaces the working orders, positions and cash; the seqs it jumped over are covered, so reports
//!   in them are not missing.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;
use tradesim_protocol::stream::{OrderEntry, OrderOutcome};
use tradesim_protocol::{EngineView, Event, EventBody, ExecType, ParticipantId, Side};

/// What the ledger counted. Everything but the first five must end at zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerCounts {
    /// Distinct client order ids sent.
    pub orders: u64,
    /// Sends, retries included.
    pub attempts: u64,
    /// Orders with an outcome.
    pub acknowledged: u64,
    pub rejected: u64,
    pub cancels: u64,
    /// Acks that came with no attempt of theirs outstanding on the connection.
    pub duplicate_acks: u64,
    /// Retries whose outcome differed from the first one.
    pub outcome_mismatches: u64,
    /// Client order ids that got a second order (another order id).
    pub duplicate_orders: u64,
    /// Acknowledged orders whose first report the stream passed without delivering.
    pub lost_reports: u64,
    /// Orders still without an outcome at the end.
    pub unacknowledged: u64,
}

impl LedgerCounts {
    pub fn add(&mut self, other: &Self) {
        self.orders += other.orders;
        self.attempts += other.attempts;
        self.acknowledged += other.acknowledged;
        self.rejected += other.rejected;
        self.cancels += other.cancels;
        self.duplicate_acks += other.duplicate_acks;
        self.outcome_mismatches += other.outcome_mismatches;
        self.duplicate_orders += other.duplicate_orders;
        self.lost_reports += other.lost_reports;
        self.unacknowledged += other.unacknowledged;
    }
}

#[derive(Clone, Debug)]
struct Order {
    entry: OrderEntry,
    outcome: Option<OrderOutcome>,
    /// Attempts sent on the current connection and not answered yet.
    outstanding: u32,
    attempts: u32,
    last_sent: Instant,
    /// The order id of its first `new` report.
    order_id: Option<u64>,
    /// The seq of its first report (`new`, `pending_trigger` or `rejected`).
    first_report: Option<u64>,
}

/// A working order as the reports left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Working {
    pub client_order_id: Option<String>,
    pub leaves: u64,
    pub cum: u64,
}

#[derive(Debug, Default)]
pub struct Ledger {
    orders: HashMap<String, Order>,
    working: BTreeMap<u64, Working>,
    positions: BTreeMap<u16, i64>,
    cash: Option<i64>,
    /// Seq ranges `(after, upto]` that snapshots covered.
    covered: Vec<(u64, u64)>,
    counts: LedgerCounts,
}

impl Ledger {
    pub fn counts(&self) -> LedgerCounts {
        self.counts
    }

    /// An attempt of `entry` went out on the current connection.
    pub fn sent(&mut self, entry: &OrderEntry, now: Instant) {
        self.counts.attempts += 1;
        let key = entry.client_order_id.as_str().to_owned();
        let order = self.orders.entry(key).or_insert_with(|| Order {
            entry: *entry,
            outcome: None,
            outstanding: 0,
            attempts: 0,
            last_sent: now,
            order_id: None,
            first_report: None,
        });
        if order.attempts == 0 {
            self.counts.orders += 1;
        }
        order.attempts += 1;
        order.outstanding += 1;
        order.last_sent = now;
    }

    pub fn cancel_sent(&mut self) {
        self.counts.cancels += 1;
    }

    /// The connection ended: nothing sent on it will be answered.
    pub fn connection_lost(&mut self) {
        for order in self.orders.values_mut() {
            order.outstanding = 0;
        }
    }

    /// An attempt was refused before it was entered (rate limited, journal unavailable): not answered.
    pub fn refused(&mut self, client_order_id: &str) {
        if let Some(order) = self.orders.get_mut(client_order_id) {
            order.outstanding = order.outstanding.saturating_sub(1);
        }
    }

    /// The orders to send again: no outcome yet, and nothing outstanding (or only an attempt older than `patience`).
    pub fn due_for_retry(&self, now: Instant, patience: Duration) -> Vec<OrderEntry> {
        self.orders
            .values()
            .filter(|o| o.outcome.is_none() && (o.outstanding == 0 || now.duration_since(o.last_sent) >= patience))
            .map(|o| o.entry)
            .collect()
    }

    /// An order already decided, to ask again: its outcome must come back the same.
    pub fn decided(&self) -> Option<OrderEntry> {
        self.orders.values().find(|o| o.outcome.is_some()).map(|o| o.entry)
    }

    pub fn all_acknowledged(&self) -> bool {
        self.orders.values().all(|o| o.outcome.is_some())
    }

    /// An `order_ack`. The round trip if it answered an order's only attempt.
    pub fn acknowledged(&mut self, client_order_id: &str, outcome: &OrderOutcome, now: Instant) -> Option<Duration> {
        let order = self.orders.get_mut(client_order_id)?;
        if order.outstanding == 0 {
            self.counts.duplicate_acks += 1;
        }
        order.outstanding = order.outstanding.saturating_sub(1);
        match &order.outcome {
            Some(first) => {
                if first != outcome {
                    self.counts.outcome_mismatches += 1;
                }
                None
            }
            None => {
                order.outcome = Some(outcome.clone());
                self.counts.acknowledged += 1;
                if matches!(outcome, OrderOutcome::Rejected { .. }) {
                    self.counts.rejected += 1;
                }
                (order.attempts == 1).then(|| now.duration_since(order.last_sent))
            }
        }
    }

    /// Applies one event of the stream (only the user's own reports and account matter).
    pub fn apply(&mut self, event: &Event) {
        match &event.body {
            EventBody::ExecutionReport(report) if report.participant == ParticipantId::USER => {
                let key = report.client_order_id.map(|id| id.as_str().to_owned());
                if let Some(order) = key.as_ref().and_then(|key| self.orders.get_mut(key)) {
                    let first =
                        matches!(report.exec_type, ExecType::New | ExecType::PendingTrigger | ExecType::Rejected);
                    if first {
                        order.first_report.get_or_insert(event.seq);
                        if let Some(id) = report.order_id.map(|id| id.0) {
                            match order.order_id {
                                Some(known) if known != id => self.counts.duplicate_orders += 1,
                                Some(_) => {}
                                None => order.order_id = Some(id),
                            }
                        }
                    }
                }
                if let (Some(last_qty), ExecType::PartialFill | ExecType::Fill) = (report.last_qty, report.exec_type) {
                    let signed = match report.side {
                        Side::Buy => last_qty.0 as i64,
                        Side::Sell => -(last_qty.0 as i64),
                    };
                    *self.positions.entry(report.instrument.0).or_default() += signed;
                }
                if let Some(id) = report.order_id.map(|id| id.0) {
                    if report.status.is_terminal() {
                        self.working.remove(&id);
                    } else {
                        let working =
                            Working { client_order_id: key, leaves: report.leaves_qty.0, cum: report.cum_qty.0 };
                        self.working.insert(id, working);
                    }
                }
            }
            EventBody::Account(account) if account.participant == ParticipantId::USER => self.cash = Some(account.cash),
            _ => {}
        }
    }

    /// A snapshot replaced the user's state; the stream jumped from `applied` to the snapshot's seq.
    pub fn rebase(&mut self, view: &EngineView, applied: u64) {
        self.covered.push((applied, view.seq));
        self.working = working_of(view);
        self.positions = positions_of(view);
        self.cash = Some(view.account.cash);
    }

    /// A working order of the user's, to cancel.
    pub fn working_client_order_id(&self, pick: usize) -> Option<String> {
        let ids: Vec<&String> = self.working.values().filter_map(|w| w.client_order_id.as_ref()).collect();
        (!ids.is_empty()).then(|| ids[pick % ids.len()].clone())
    }

    pub fn working_count(&self) -> usize {
        self.working.len()
    }

    /// Where the user's state differs from the server's `view`, for people.
    pub fn differences(&self, view: &EngineView) -> Vec<String> {
        let mut differences = Vec::new();
        let theirs = working_of(view);
        for (id, mine) in &self.working {
            match theirs.get(id) {
                None => differences.push(format!("order {id} works here but not on the server")),
                Some(server) if server != mine => {
                    differences.push(format!("order {id}: {mine:?} here, {server:?} there"))
                }
                Some(_) => {}
            }
        }
        differences.extend(
            theirs
                .keys()
                .filter(|id| !self.working.contains_key(id))
                .map(|id| format!("order {id} works only on the server")),
        );
        let mine: BTreeMap<u16, i64> =
            self.positions.iter().filter(|(_, qty)| **qty != 0).map(|(i, q)| (*i, *q)).collect();
        if mine != positions_of(view) {
            differences.push(format!("positions {mine:?} here, {:?} there", positions_of(view)));
        }
        if self.cash.is_some_and(|cash| cash != view.account.cash) {
            differences.push(format!("cash {:?} here, {} there", self.cash, view.account.cash));
        }
        differences
    }

    /// Closes the books at the end: counts the orders still unanswered and the acknowledged orders whose first
    /// report never came although the stream (up to `applied`) passed it.
    pub fn close(&mut self, applied: u64) {
        let covered = |seq: u64| self.covered.iter().any(|(after, upto)| *after < seq && seq <= *upto);
        let mut lost = 0;
        let mut unacknowledged = 0;
        for order in self.orders.values() {
            let reported_at = match &order.outcome {
                None => {
                    unacknowledged += 1;
                    continue;
                }
                Some(OrderOutcome::Accepted { seq, .. } | OrderOutcome::Rejected { seq, .. }) => *seq,
                Some(OrderOutcome::DuplicateElsewhere { .. }) => continue,
            };
            // Only a report the stream has passed can be missing; a snapshot stands for the events it jumped over.
            let passed = reported_at <= applied;
            let delivered = order.first_report == Some(reported_at);
            let snapshotted = covered(reported_at) && order.first_report.is_none();
            if passed && !(delivered || snapshotted) {
                lost += 1;
            }
        }
        self.counts.lost_reports = lost;
        self.counts.unacknowledged = unacknowledged;
    }
}

fn working_of(view: &EngineView) -> BTreeMap<u64, Working> {
    view.open_orders
        .iter()
        .map(|order| {
            let working = Working {
                client_order_id: order.client_order_id.map(|id| id.as_str().to_owned()),
                leaves: order.leaves_qty.0,
                cum: order.cum_qty.0,
            };
            (order.order_id.0, working)
        })
        .collect()
}

fn positions_of(view: &EngineView) -> BTreeMap<u16, i64> {
    view.account.positions.iter().filter(|p| p.qty != 0).map(|p| (p.instrument.0, p.qty)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradesim_protocol::{
        AccountUpdate, ClientOrderId, ExecutionReport, InstrumentId, OrderId, OrderStatus, OrderType, Price, Qty,
        TimeInForce,
    };

    fn entry(id: &str) -> OrderEntry {
        OrderEntry {
            instrument: InstrumentId(0),
            client_order_id: ClientOrderId::parse(id).unwrap(),
            side: Side::Buy,
            qty: Qty(3),
            order_type: OrderType::Limit { price: Price(9990) },
            tif: TimeInForce::Gtc,
            display_qty: None,
            post_only: false,
            stp: Default::default(),
        }
    }

    fn report(seq: u64, id: &str, order_id: u64, exec_type: ExecType, status: OrderStatus, cum: u64) -> Event {
        let report = ExecutionReport {
            participant: ParticipantId::USER,
            order_id: Some(OrderId(order_id)),
            client_order_id: Some(ClientOrderId::parse(id).unwrap()),
            instrument: InstrumentId(0),
            side: Side::Buy,
            exec_type,
            status,
            price: Some(Price(9990)),
            qty: Qty(3),
            cum_qty: Qty(cum),
            leaves_qty: Qty(if status.is_terminal() { 0 } else { 3 - cum }),
            avg_price: None,
            last_price: None,
            last_qty: (cum > 0).then_some(Qty(1)),
            liquidity: None,
            fee: 0,
            reject_reason: None,
            cancel_reason: None,
        };
        Event { seq, time_ms: seq, body: EventBody::ExecutionReport(report) }
    }

    fn accepted(order_id: u64, seq: u64) -> OrderOutcome {
        OrderOutcome::Accepted { order_id: OrderId(order_id), seq }
    }

    fn view(seq: u64, open: &[(u64, &str, u64)], position: i64, cash: i64) -> EngineView {
        let json = serde_json::json!({
            "participant": 1, "seq": seq, "step": seq, "time_ms": seq, "books": [],
            "open_orders": open.iter().map(|(order_id, id, cum)| serde_json::json!({
                "order_id": order_id, "client_order_id": id, "instrument": 0, "side": "buy",
                "order_type": { "type": "limit", "price": 9990 }, "tif": { "type": "gtc" },
                "status": if *cum > 0 { "partially_filled" } else { "new" }, "qty": 3, "cum_qty": cum,
                "leaves_qty": 3 - cum, "display_qty": null, "price": 9990, "qty_ahead": 0,
            })).collect::<Vec<_>>(),
            "account": {
                "participant": 1, "cash": cash, "equity": cash, "buying_power": cash, "realized_pnl": 0,
                "unrealized_pnl": 0, "fees_paid": 0,
                "positions": if position == 0 { vec![] } else { vec![serde_json::json!({
                    "instrument": 0, "qty": position, "avg_price": 9990, "cost_basis": 0, "mark_price": 9990,
                    "realized_pnl": 0, "unrealized_pnl": 0,
                })] },
            },
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn one_attempt_gives_a_round_trip_and_a_retry_after_a_drop_must_get_the_same_outcome() {
        let mut ledger = Ledger::default();
        let start = Instant::now();
        ledger.sent(&entry("a-1"), start);
        let rtt = ledger.acknowledged("a-1", &accepted(7, 11), start + Duration::from_millis(3));
        assert_eq!(rtt, Some(Duration::from_millis(3)));
        // The same ack again, with nothing outstanding: a duplicate.
        ledger.acknowledged("a-1", &accepted(7, 11), start);
        // After a drop: a retry gets the same outcome (fine), then a different one (a mismatch), no round trips.
        ledger.connection_lost();
        ledger.sent(&entry("a-1"), start);
        assert_eq!(ledger.acknowledged("a-1", &accepted(7, 11), start), None);
        ledger.sent(&entry("a-1"), start);
        ledger.acknowledged("a-1", &accepted(8, 12), start);
        let counts = ledger.counts();
        assert_eq!((counts.orders, counts.attempts, counts.acknowledged), (1, 3, 1));
        assert_eq!((counts.duplicate_acks, counts.outcome_mismatches), (1, 1));
    }

    #[test]
    fn unanswered_orders_are_due_for_retry_once_nothing_is_outstanding_or_patience_ran_out() {
        let mut ledger = Ledger::default();
        let start = Instant::now();
        ledger.sent(&entry("b-1"), start);
        ledger.sent(&entry("b-2"), start);
        ledger.acknowledged("b-2", &accepted(1, 5), start);
        let patience = Duration::from_secs(5);
        assert!(ledger.due_for_retry(start, patience).is_empty());
        assert_eq!(ledger.due_for_retry(start + patience, patience).len(), 1);
        ledger.refused("b-1");
        assert_eq!(ledger.due_for_retry(start, patience)[0].client_order_id.as_str(), "b-1");
        assert!(!ledger.all_acknowledged());
        assert_eq!(ledger.decided().unwrap().client_order_id.as_str(), "b-2");
        ledger.close(10);
        assert_eq!(ledger.counts().unacknowledged, 1);
    }

    #[test]
    fn reports_build_working_orders_and_positions_that_must_match_the_servers_view() {
        let mut ledger = Ledger::default();
        let start = Instant::now();
        ledger.sent(&entry("c-1"), start);
        ledger.sent(&entry("c-2"), start);
        ledger.acknowledged("c-1", &accepted(1, 20), start);
        ledger.acknowledged("c-2", &accepted(2, 22), start);
        ledger.apply(&report(20, "c-1", 1, ExecType::New, OrderStatus::New, 0));
        ledger.apply(&report(21, "c-1", 1, ExecType::PartialFill, OrderStatus::PartiallyFilled, 1));
        ledger.apply(&report(22, "c-2", 2, ExecType::New, OrderStatus::New, 0));
        ledger.apply(&report(23, "c-2", 2, ExecType::Cancelled, OrderStatus::Cancelled, 0));
        let account = AccountUpdate {
            participant: ParticipantId::USER,
            cash: 990,
            equity: 0,
            buying_power: 0,
            realized_pnl: 0,
            unrealized_pnl: 0,
            fees_paid: 0,
            positions: vec![],
        };
        ledger.apply(&Event { seq: 24, time_ms: 24, body: EventBody::Account(account) });
        assert_eq!(ledger.differences(&view(24, &[(1, "c-1", 1)], 1, 990)), Vec::<String>::new());
        assert_eq!(ledger.working_client_order_id(5).as_deref(), Some("c-1"));
        let wrong = ledger.differences(&view(24, &[(1, "c-1", 0), (9, "x", 0)], 2, 991));
        assert_eq!(wrong.len(), 4, "{wrong:?}");
        ledger.close(24);
        assert_eq!(ledger.counts().lost_reports, 0);
    }

    #[test]
    fn a_first_report_that_never_came_is_lost_unless_a_snapshot_covered_it_and_a_second_order_id_is_a_duplicate() {
        let mut ledger = Ledger::default();
        let start = Instant::now();
        for id in ["d-1", "d-2", "d-3"] {
            ledger.sent(&entry(id), start);
        }
        ledger.acknowledged("d-1", &accepted(1, 30), start);
        ledger.acknowledged("d-2", &accepted(2, 31), start);
        ledger.acknowledged("d-3", &accepted(3, 45), start);
        ledger.apply(&report(30, "d-1", 1, ExecType::New, OrderStatus::New, 0));
        ledger.apply(&report(33, "d-1", 4, ExecType::New, OrderStatus::New, 0));
        // d-2's report at 31 never came; d-3's at 45 was jumped over by a snapshot from 40 to 50.
        ledger.rebase(&view(50, &[(3, "d-3", 0)], 0, 1000), 40);
        // d-4's report, at 60, is past what the stream reached: not missing (yet).
        ledger.sent(&entry("d-4"), start);
        ledger.acknowledged("d-4", &accepted(5, 60), start);
        ledger.close(50);
        assert_eq!((ledger.counts().lost_reports, ledger.counts().duplicate_orders), (1, 1));
    }
}
