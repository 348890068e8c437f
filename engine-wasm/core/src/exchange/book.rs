//! Order storage and price levels.
//!
//! Orders live in a slab; each price level is an intrusive doubly linked list through the slab (O(1) cancel from
//! anywhere in the queue). A side's levels sit in a vector sorted from worst to best price: the best level is the
//! last element, and almost all activity is near it, so inserting or removing a level moves few elements, lookups
//! are a binary search over contiguous memory, and nothing allocates per level (a BTreeMap costs node hops and
//! allocations, which wasm feels most).
//!
//! # Invariants
//! - A level exists only while it holds at least one order; its `shown` is the sum of its orders' `shown`.
//! - Levels are sorted worst to best and prices are unique per side.
//! - Within a level, queue order is ascending `ticket` order: a ticket is drawn on every `push_back`, and nothing
//!   inserts ahead of the tail. `dirty_from` is at most the ticket of the first order whose queue position may have
//!   changed since it was last cleared, so orders with lower tickets kept their place.
//! - A slab entry is live exactly while its order id maps to its slot; a removed entry keeps its order, readable
//!   as the removed order, until an insert reuses the slot.
//! - Slot numbers and tickets are implementation details: nothing observable (events, snapshots, hashes) depends
//!   on them.

use bincode::{Decode, Encode};
use rustc_hash::FxHashMap;
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
    /// Queue ticket: increases along a level's queue (see the module invariants).
    ticket: u64,
    /// False once the order is removed: the slot is free, and the order stays readable (as the removed order)
    /// until the slot is reused, so removing an order moves none of its 200-odd bytes.
    live: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Level {
    head: Slot,
    tail: Slot,
    pub shown: Qty,
    pub orders: u32,
    /// Orders of commanded participants, who are told their queue position.
    pub reported: u32,
    /// Queue positions may have changed from this ticket on; `u64::MAX` when none did.
    dirty_from: u64,
}

impl Level {
    const EMPTY: Self = Self { head: NIL, tail: NIL, shown: Qty::ZERO, orders: 0, reported: 0, dirty_from: u64::MAX };

    /// The order at the front of the queue.
    pub fn front(&self) -> Slot {
        self.head
    }

    /// Slots front of the queue first.
    pub fn queue<'a>(&self, orders: &'a Orders) -> QueueIter<'a> {
        QueueIter { orders, next: self.head }
    }
}

#[derive(Debug, Default)]
pub struct Orders {
    entries: Vec<Entry>,
    free: Vec<Slot>,
    by_id: FxHashMap<OrderId, Slot>,
    next_ticket: u64,
}

impl Orders {
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn insert(&mut self, order: Order) -> Slot {
        let id = order.id;
        let entry = Entry { order, prev: NIL, next: NIL, ticket: 0, live: true };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = entry;
                slot
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as Slot
            }
        };
        self.by_id.insert(id, slot);
        slot
    }

    /// Removes the order at `slot`; it stays readable through [`Orders::removed_mut`] until the next insert.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn remove(&mut self, slot: Slot) {
        let entry = self.entry_mut(slot);
        entry.live = false;
        let id = entry.order.id;
        self.by_id.remove(&id);
        self.free.push(slot);
    }

    /// The order just removed from `slot` (before any insert reuses it).
    pub fn removed_mut(&mut self, slot: Slot) -> &mut Order {
        let entry = &mut self.entries[slot as usize];
        if entry.live {
            unreachable!("slot {slot} is not removed");
        }
        &mut entry.order
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        self.by_id.reserve(additional);
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn slot(&self, id: OrderId) -> Option<Slot> {
        self.by_id.get(&id).copied()
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn get(&self, slot: Slot) -> &Order {
        &self.entry(slot).order
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn get_mut(&mut self, slot: Slot) -> &mut Order {
        &mut self.entry_mut(slot).order
    }

    /// Every live order, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Order> {
        self.entries.iter().filter(|entry| entry.live).map(|entry| &entry.order)
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn entry(&self, slot: Slot) -> &Entry {
        let entry = &self.entries[slot as usize];
        if !entry.live {
            unreachable!("slot {slot} is empty");
        }
        entry
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn entry_mut(&mut self, slot: Slot) -> &mut Entry {
        let entry = &mut self.entries[slot as usize];
        if !entry.live {
            unreachable!("slot {slot} is empty");
        }
        entry
    }

    /// Links the order at `slot` behind the tail of `level`, with a fresh ticket.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn link_back(&mut self, level: &mut Level, slot: Slot) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let old_tail = level.tail;
        let entry = self.entry_mut(slot);
        (entry.prev, entry.next, entry.ticket) = (old_tail, NIL, ticket);
        let (shown, reported) = (entry.order.shown, entry.order.is_reported());
        if old_tail == NIL {
            level.head = slot;
        } else {
            self.entry_mut(old_tail).next = slot;
        }
        level.tail = slot;
        level.shown.0 += shown.0;
        level.orders += 1;
        level.reported += u32::from(reported);
        level.dirty_from = level.dirty_from.min(ticket);
    }
}

/// One side of one instrument's book.
#[derive(Debug)]
pub struct BookSide {
    /// Worst price first, best last.
    levels: Vec<(Price, Level)>,
    side: Side,
}

impl BookSide {
    pub fn new(side: Side) -> Self {
        Self { levels: Vec::new(), side }
    }

    /// Where `price` is (`Ok`) or would go (`Err`) in the worst-to-best order.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn find(&self, price: Price) -> Result<usize, usize> {
        match self.side {
            Side::Buy => self.levels.binary_search_by(|(p, _)| p.cmp(&price)),
            Side::Sell => self.levels.binary_search_by(|(p, _)| price.cmp(p)),
        }
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn level_mut(&mut self, price: Price) -> &mut Level {
        match self.find(price) {
            Ok(index) => &mut self.levels[index].1,
            Err(_) => unreachable!("resting order without its level"),
        }
    }

    pub fn best(&self) -> Option<(Price, &Level)> {
        self.levels.last().map(|(price, level)| (*price, level))
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn level(&self, price: Price) -> Option<&Level> {
        self.find(price).ok().map(|index| &self.levels[index].1)
    }

    /// Levels best first.
    pub fn levels(&self) -> impl Iterator<Item = (Price, &Level)> {
        self.levels.iter().rev().map(|(price, level)| (*price, level))
    }

    /// A side restored from a snapshot: `levels` best first, each a price and how many of `slots` (in queue order)
    /// rest there. Refuses levels out of order and orders that do not belong to their level.
    pub fn restore(
        side: Side,
        orders: &mut Orders,
        levels: &[(Price, u32)],
        slots: &[Slot],
    ) -> Result<Self, &'static str> {
        let mut book = Self { levels: Vec::with_capacity(levels.len()), side };
        let mut rest = slots;
        for &(price, count) in levels {
            if count == 0 || count as usize > rest.len() {
                return Err("empty or overlong price level");
            }
            let (queue, after) = rest.split_at(count as usize);
            rest = after;
            let mut level = Level::EMPTY;
            for &slot in queue {
                let order = orders.get(slot);
                if order.price != Some(price) || order.side != side || order.shown.is_zero() {
                    return Err("order does not belong to its price level");
                }
                orders.link_back(&mut level, slot);
            }
            // Positions as restored were already sent.
            level.dirty_from = u64::MAX;
            book.levels.push((price, level));
        }
        // Best first as listed, worst first as kept.
        book.levels.reverse();
        if !rest.is_empty() || !book.is_ordered() {
            return Err("repeated or unordered price levels");
        }
        Ok(book)
    }

    fn is_ordered(&self) -> bool {
        self.levels.windows(2).all(|pair| match self.side {
            Side::Buy => pair[0].0 < pair[1].0,
            Side::Sell => pair[0].0 > pair[1].0,
        })
    }

    /// Appends the order at `slot` to the back of its price level.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn push_back(&mut self, orders: &mut Orders, slot: Slot) {
        let price = orders.get(slot).price.unwrap_or_else(|| unreachable!("resting order without a price"));
        let index = self.find(price).unwrap_or_else(|index| {
            self.levels.insert(index, (price, Level::EMPTY));
            index
        });
        orders.link_back(&mut self.levels[index].1, slot);
    }

    /// Unlinks the order at `slot` from its level (the order stays in the slab).
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn unlink(&mut self, orders: &mut Orders, slot: Slot) {
        let (price, shown, reported, prev, next, ticket) = {
            let entry = orders.entry(slot);
            (
                entry.order.price.unwrap_or_default(),
                entry.order.shown,
                entry.order.is_reported(),
                entry.prev,
                entry.next,
                entry.ticket,
            )
        };
        let Ok(index) = self.find(price) else { unreachable!("resting order without its level") };
        let level = &mut self.levels[index].1;
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
        level.dirty_from = level.dirty_from.min(ticket);
        if level.orders == 0 {
            self.levels.remove(index);
        }
        let entry = orders.entry_mut(slot);
        entry.prev = NIL;
        entry.next = NIL;
    }

    /// Changes the shown quantity of a resting order in place (keeps its queue position).
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn set_shown(&mut self, orders: &mut Orders, slot: Slot, shown: Qty) {
        let entry = orders.entry_mut(slot);
        let price = entry.order.price.unwrap_or_default();
        let old = std::mem::replace(&mut entry.order.shown, shown);
        let ticket = entry.ticket;
        let level = self.level_mut(price);
        level.shown.0 = level.shown.0 - old.0 + shown.0;
        level.dirty_from = level.dirty_from.min(ticket);
    }

    /// Appends to `changes` the commanded orders at `price` whose queue position (qty, orders ahead) differs from
    /// the one last sent, front of the queue first, and marks the level clean. Only orders at or behind the first
    /// change since the last call are visited: the walk runs from the tail, where what is ahead of an order is the
    /// level's total minus what is behind it.
    pub fn queue_changes(&mut self, orders: &Orders, price: Price, changes: &mut Vec<(Slot, (Qty, u32))>) {
        let Ok(index) = self.find(price) else { return };
        let level = &mut self.levels[index].1;
        let start = changes.len();
        let (mut slot, mut behind_qty, mut behind_orders) = (level.tail, 0, 0);
        while slot != NIL {
            let entry = orders.entry(slot);
            if entry.ticket < level.dirty_from {
                break;
            }
            let order = &entry.order;
            behind_qty += order.shown.0;
            behind_orders += 1;
            let ahead = (Qty(level.shown.0 - behind_qty), level.orders - behind_orders);
            if order.is_reported() && order.last_queue != Some(ahead) {
                changes.push((slot, ahead));
            }
            slot = entry.prev;
        }
        level.dirty_from = u64::MAX;
        changes[start..].reverse();
    }

    /// Checks the links, counts, totals and tickets of every level; returns how many orders rest on this side.
    pub fn check(&self, orders: &Orders) -> Result<usize, String> {
        let mut total = 0;
        if !self.is_ordered() {
            return Err("price levels out of order".to_owned());
        }
        for &(price, ref level) in &self.levels {
            let (mut previous, mut slot, mut count, mut shown, mut reported) = (NIL, level.head, 0u32, 0u64, 0u32);
            let mut last_ticket = None;
            while slot != NIL {
                let entry =
                    orders.entries.get(slot as usize).filter(|entry| entry.live).ok_or("link to an empty slot")?;
                if entry.prev != previous || count > level.orders || last_ticket >= Some(entry.ticket) {
                    return Err(format!("level {price}: broken links at order {}", entry.order.id));
                }
                let order = &entry.order;
                if order.price != Some(price) || order.side != self.side || !order.working || order.shown.is_zero() {
                    return Err(format!("level {price}: order {} does not belong", order.id));
                }
                (previous, slot, count, shown) = (slot, entry.next, count + 1, shown + order.shown.0);
                reported += u32::from(order.is_reported());
                last_ticket = Some(entry.ticket);
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
        QueueIter { orders, next: self.level(price).map_or(NIL, |level| level.head) }
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
