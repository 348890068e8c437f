//! Order storage and price levels.
//!
//! Orders live in a slab; each price level is an intrusive doubly linked list through the slab (O(1) cancel from
//! anywhere in the queue), and levels sit in a BTreeMap per side.
//!
//! # Invariants
//! - A level exists only while it holds at least one order; its `shown` is the sum of its orders' `shown`.
//! - Slot numbers are an implementation detail: nothing observable (events, snapshots, hashes) depends on them.

use bincode::{Decode, Encode};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, btree_map};
use tradesim_protocol::{
    ClientOrderId, InstrumentId, OrderId, OrderStatus, OrderType, ParticipantId, Price, Qty, Side, StpMode, TimeInForce,
};

pub type Slot = u32;
const NIL: Slot = Slot::MAX;

/// Everything about a working order that is state (snapshotted); links live beside it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Order {
    pub id: OrderId,
    pub participant: ParticipantId,
    pub client_order_id: Option<ClientOrderId>,
    pub instrument: InstrumentId,
    pub side: Side,
    /// As entered; a triggered stop keeps it, `price`/`triggered` say how it works now.
    pub order_type: OrderType,
    pub tif: TimeInForce,
    /// Current limit price; None for market and stop-market orders.
    pub price: Option<Price>,
    pub qty: Qty,
    pub cum_qty: Qty,
    pub cum_notional: i64,
    pub display: Option<Qty>,
    /// Displayed part while resting.
    pub shown: Qty,
    pub post_only: bool,
    pub stp: StpMode,
    pub expire_at_ms: Option<u64>,
    pub status: OrderStatus,
    /// False for a stop that has not triggered yet.
    pub triggered: bool,
    /// Resting in the book or waiting for its stop (not while it is being matched).
    pub working: bool,
    /// Price used for risk: the limit price, or the band edge at entry for priceless orders.
    pub risk_price: Price,
    /// Last queue position sent to its participant.
    pub last_queue: Option<(Qty, u32)>,
}

impl Order {
    pub fn leaves(&self) -> Qty {
        Qty(self.qty.0 - self.cum_qty.0)
    }

    pub fn is_reported(&self) -> bool {
        !self.participant.is_agent()
    }

    pub fn stop_price(&self) -> Option<Price> {
        match self.order_type {
            OrderType::StopMarket { stop_price } | OrderType::StopLimit { stop_price, .. } => Some(stop_price),
            OrderType::Limit { .. } | OrderType::Market => None,
        }
    }
}

#[derive(Debug)]
struct Entry {
    order: Order,
    prev: Slot,
    next: Slot,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Level {
    head: Slot,
    tail: Slot,
    pub shown: Qty,
    pub orders: u32,
    /// Orders of commanded participants, who are told their queue position.
    pub reported: u32,
}

#[derive(Debug, Default)]
pub struct Orders {
    entries: Vec<Option<Entry>>,
    free: Vec<Slot>,
    by_id: FxHashMap<OrderId, Slot>,
}

impl Orders {
    pub fn insert(&mut self, order: Order) -> Slot {
        let id = order.id;
        let entry = Entry { order, prev: NIL, next: NIL };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as Slot
            }
        };
        self.by_id.insert(id, slot);
        slot
    }

    pub fn remove(&mut self, slot: Slot) -> Order {
        let entry = self.entries[slot as usize].take().unwrap_or_else(|| unreachable!("slot {slot} is empty"));
        self.by_id.remove(&entry.order.id);
        self.free.push(slot);
        entry.order
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        self.by_id.reserve(additional);
    }

    pub fn slot(&self, id: OrderId) -> Option<Slot> {
        self.by_id.get(&id).copied()
    }

    pub fn get(&self, slot: Slot) -> &Order {
        &self.entry(slot).order
    }

    pub fn get_mut(&mut self, slot: Slot) -> &mut Order {
        &mut self.entry_mut(slot).order
    }

    /// Every live order, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Order> {
        self.entries.iter().flatten().map(|entry| &entry.order)
    }

    fn entry(&self, slot: Slot) -> &Entry {
        self.entries[slot as usize].as_ref().unwrap_or_else(|| unreachable!("slot {slot} is empty"))
    }

    fn entry_mut(&mut self, slot: Slot) -> &mut Entry {
        self.entries[slot as usize].as_mut().unwrap_or_else(|| unreachable!("slot {slot} is empty"))
    }
}

/// One side of one instrument's book.
#[derive(Debug)]
pub struct BookSide {
    levels: BTreeMap<Price, Level>,
    side: Side,
}

impl BookSide {
    pub fn new(side: Side) -> Self {
        Self { levels: BTreeMap::new(), side }
    }

    fn is_bid(&self) -> bool {
        self.side == Side::Buy
    }

    pub fn best(&self) -> Option<(Price, &Level)> {
        let entry = if self.is_bid() { self.levels.last_key_value() } else { self.levels.first_key_value() };
        entry.map(|(price, level)| (*price, level))
    }

    pub fn level(&self, price: Price) -> Option<&Level> {
        self.levels.get(&price)
    }

    /// Levels best first.
    pub fn levels(&self) -> Levels<'_> {
        if self.is_bid() { Levels::Descending(self.levels.iter().rev()) } else { Levels::Ascending(self.levels.iter()) }
    }

    /// Creates the level at `price` from `slots` in queue order (restoring a snapshot: one map insert per level,
    /// not per order). Refuses orders that do not belong there.
    pub fn push_level(&mut self, orders: &mut Orders, price: Price, slots: &[Slot]) -> Result<(), &'static str> {
        if slots.is_empty() || self.levels.contains_key(&price) {
            return Err("empty or repeated price level");
        }
        let mut level = Level { head: slots[0], tail: NIL, shown: Qty::ZERO, orders: 0, reported: 0 };
        for &slot in slots {
            let entry = orders.entry_mut(slot);
            let order = &entry.order;
            if order.price != Some(price) || order.side != self.side || order.shown.is_zero() {
                return Err("order does not belong to its price level");
            }
            level.shown.0 += order.shown.0;
            level.orders += 1;
            level.reported += u32::from(order.is_reported());
            entry.prev = level.tail;
            entry.next = NIL;
            if level.tail != NIL {
                orders.entry_mut(level.tail).next = slot;
            }
            level.tail = slot;
        }
        self.levels.insert(price, level);
        Ok(())
    }

    /// Appends the order at `slot` to the back of its price level.
    pub fn push_back(&mut self, orders: &mut Orders, slot: Slot) {
        let (price, shown, reported) = {
            let order = orders.get(slot);
            (
                order.price.unwrap_or_else(|| unreachable!("resting order without a price")),
                order.shown,
                order.is_reported(),
            )
        };
        let level = self.levels.entry(price).or_insert(Level {
            head: NIL,
            tail: NIL,
            shown: Qty::ZERO,
            orders: 0,
            reported: 0,
        });
        let old_tail = level.tail;
        {
            let entry = orders.entry_mut(slot);
            entry.prev = old_tail;
            entry.next = NIL;
        }
        if old_tail == NIL {
            level.head = slot;
        } else {
            orders.entry_mut(old_tail).next = slot;
        }
        level.tail = slot;
        level.shown.0 += shown.0;
        level.orders += 1;
        level.reported += u32::from(reported);
    }

    /// Unlinks the order at `slot` from its level (the order stays in the slab).
    pub fn unlink(&mut self, orders: &mut Orders, slot: Slot) {
        let (price, shown, reported, prev, next) = {
            let entry = orders.entry(slot);
            (
                entry.order.price.unwrap_or_default(),
                entry.order.shown,
                entry.order.is_reported(),
                entry.prev,
                entry.next,
            )
        };
        let level = self.levels.get_mut(&price).unwrap_or_else(|| unreachable!("resting order without its level"));
        if prev == NIL {
            level.head = next;
        } else {
            orders.entry_mut(prev).next = next;
        }
        if next == NIL {
            level.tail = prev;
        } else {
            orders.entry_mut(next).prev = prev;
        }
        level.shown.0 -= shown.0;
        level.orders -= 1;
        level.reported -= u32::from(reported);
        if level.orders == 0 {
            self.levels.remove(&price);
        }
        let entry = orders.entry_mut(slot);
        entry.prev = NIL;
        entry.next = NIL;
    }

    /// Changes the shown quantity of a resting order in place (keeps its queue position).
    pub fn set_shown(&mut self, orders: &mut Orders, slot: Slot, shown: Qty) {
        let order = orders.get_mut(slot);
        let price = order.price.unwrap_or_default();
        let old = std::mem::replace(&mut order.shown, shown);
        let level = self.levels.get_mut(&price).unwrap_or_else(|| unreachable!("resting order without its level"));
        level.shown.0 = level.shown.0 - old.0 + shown.0;
    }

    /// Checks the links, counts and totals of every level; returns how many orders rest on this side.
    pub fn check(&self, orders: &Orders) -> Result<usize, String> {
        let mut total = 0;
        for (&price, level) in &self.levels {
            let (mut previous, mut slot, mut count, mut shown, mut reported) = (NIL, level.head, 0u32, 0u64, 0u32);
            while slot != NIL {
                let entry =
                    orders.entries.get(slot as usize).and_then(Option::as_ref).ok_or("link to an empty slot")?;
                if entry.prev != previous || count > level.orders {
                    return Err(format!("level {price}: broken links at order {}", entry.order.id));
                }
                let order = &entry.order;
                if order.price != Some(price) || order.side != self.side || !order.working || order.shown.is_zero() {
                    return Err(format!("level {price}: order {} does not belong", order.id));
                }
                (previous, slot, count, shown) = (slot, entry.next, count + 1, shown + order.shown.0);
                reported += u32::from(order.is_reported());
            }
            let totals_match = count == level.orders && Qty(shown) == level.shown && reported == level.reported;
            if previous != level.tail || !totals_match || count == 0 {
                return Err(format!("level {price}: tail, count or shown total is wrong"));
            }
            total += count as usize;
        }
        Ok(total)
    }

    /// Slots of a level, front of the queue first.
    pub fn queue<'a>(&self, orders: &'a Orders, price: Price) -> QueueIter<'a> {
        QueueIter { orders, next: self.levels.get(&price).map_or(NIL, |level| level.head) }
    }

    pub fn front(&self, price: Price) -> Option<Slot> {
        self.levels.get(&price).map(|level| level.head)
    }
}

/// A side's levels best first, without boxing: bids run down the price map, asks up.
#[derive(Debug)]
pub enum Levels<'a> {
    Ascending(btree_map::Iter<'a, Price, Level>),
    Descending(std::iter::Rev<btree_map::Iter<'a, Price, Level>>),
}

impl<'a> Iterator for Levels<'a> {
    type Item = (Price, &'a Level);

    fn next(&mut self) -> Option<Self::Item> {
        let (price, level) = match self {
            Self::Ascending(iter) => iter.next()?,
            Self::Descending(iter) => iter.next()?,
        };
        Some((*price, level))
    }
}

#[derive(Debug)]
pub struct QueueIter<'a> {
    orders: &'a Orders,
    next: Slot,
}

impl Iterator for QueueIter<'_> {
    type Item = Slot;

    fn next(&mut self) -> Option<Slot> {
        if self.next == NIL {
            return None;
        }
        let slot = self.next;
        self.next = self.orders.entry(slot).next;
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: u64, price: i64, shown: u64) -> Order {
        Order {
            id: OrderId(id),
            participant: ParticipantId(1),
            client_order_id: None,
            instrument: InstrumentId(0),
            side: Side::Buy,
            order_type: OrderType::Limit { price: Price(price) },
            tif: TimeInForce::Gtc,
            price: Some(Price(price)),
            qty: Qty(shown),
            cum_qty: Qty(0),
            cum_notional: 0,
            display: None,
            shown: Qty(shown),
            post_only: false,
            stp: StpMode::CancelNewest,
            expire_at_ms: None,
            status: OrderStatus::New,
            triggered: true,
            working: false,
            risk_price: Price(price),
            last_queue: None,
        }
    }

    #[test]
    fn levels_keep_fifo_order_and_totals_through_unlinks() {
        let mut orders = Orders::default();
        let mut bids = BookSide::new(Side::Buy);
        let slots: Vec<Slot> = (1..=4).map(|id| orders.insert(order(id, 100, id))).collect();
        for &slot in &slots {
            bids.push_back(&mut orders, slot);
        }
        let far = orders.insert(order(5, 99, 7));
        bids.push_back(&mut orders, far);
        bids.unlink(&mut orders, slots[1]);
        let ids: Vec<u64> = bids.queue(&orders, Price(100)).map(|slot| orders.get(slot).id.0).collect();
        assert_eq!(ids, vec![1, 3, 4]);
        let (best, level) = bids.best().unwrap();
        assert_eq!((best, level.shown, level.orders), (Price(100), Qty(8), 3));
        for slot in [slots[0], slots[2], slots[3]] {
            bids.unlink(&mut orders, slot);
        }
        assert_eq!(bids.best().map(|(price, _)| price), Some(Price(99)));
        let prices: Vec<Price> = bids.levels().map(|(price, _)| price).collect();
        assert_eq!(prices, vec![Price(99)]);
    }
}
