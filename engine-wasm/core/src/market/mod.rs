//! The simulated background market (placeholder until the agents land).

use crate::venue::Venue;
use bincode::{Decode, Encode};
use tradesim_protocol::{InstrumentConfig, Scenario};

#[derive(Debug, Encode, Decode)]
pub struct Market {
    scenario: Scenario,
}

impl Market {
    pub fn new(scenario: Scenario, _instruments: &[InstrumentConfig], _seed: u64) -> Self {
        Self { scenario }
    }

    pub fn on_step(&mut self, _venue: &mut impl Venue) {}
}
