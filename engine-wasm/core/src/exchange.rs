//! Placeholder: the matching engine is being written.
#![allow(clippy::todo, unused)]

use crate::venue::{Submitted, Venue};
use bincode::{Decode, Encode};
use tradesim_protocol::*;

#[derive(Debug, Encode, Decode)]
pub struct Exchange {
    config: SimConfig,
}

impl Exchange {
    pub fn new(config: SimConfig) -> Self {
        Self { config }
    }
    pub fn config(&self) -> &SimConfig {
        &self.config
    }
    pub fn apply(&mut self, command: &Command, out: &mut Vec<Event>) {
        todo!()
    }
    pub fn begin_step(&mut self, out: &mut Vec<Event>) {
        todo!()
    }
    pub fn end_step(&mut self, out: &mut Vec<Event>) {
        todo!()
    }
    pub fn venue<'a>(&'a mut self, out: &'a mut Vec<Event>) -> ExchangeVenue<'a> {
        todo!()
    }
    pub fn step(&self) -> u64 {
        todo!()
    }
    pub fn time_ms(&self) -> u64 {
        todo!()
    }
    pub fn last_seq(&self) -> u64 {
        todo!()
    }
    pub fn view(&self, participant: ParticipantId, depth: usize) -> EngineView {
        todo!()
    }
}

pub struct ExchangeVenue<'a> {
    exchange: &'a mut Exchange,
    out: &'a mut Vec<Event>,
}

impl Venue for ExchangeVenue<'_> {
    fn time_ms(&self) -> u64 {
        todo!()
    }
    fn instrument(&self, instrument: InstrumentId) -> &InstrumentConfig {
        todo!()
    }
    fn best(&self, instrument: InstrumentId, side: Side) -> Option<BookLevel> {
        todo!()
    }
    fn depth(&self, instrument: InstrumentId, side: Side, levels: usize, out: &mut Vec<BookLevel>) {
        todo!()
    }
    fn last_trade_price(&self, instrument: InstrumentId) -> Option<Price> {
        todo!()
    }
    fn price_band(&self, instrument: InstrumentId) -> (Price, Price) {
        todo!()
    }
    fn is_halted(&self, instrument: InstrumentId) -> bool {
        todo!()
    }
    fn position(&self, participant: ParticipantId, instrument: InstrumentId) -> i64 {
        todo!()
    }
    fn is_working(&self, order: OrderId) -> bool {
        todo!()
    }
    fn submit(&mut self, order: NewOrder) -> Submitted {
        todo!()
    }
    fn cancel(&mut self, participant: ParticipantId, order: OrderId) -> bool {
        todo!()
    }
}
