//! The run's outcome: the goals and whether they were met, and the report people look at (Markdown and SVG
//! charts in one directory).

use crate::chaos::ChaosRecord;
use crate::charts::{self, ChartError};
use crate::ledger::LedgerCounts;
use crate::proxy::FaultCounts;
use crate::resources::Sampled;
use crate::stats::{self, Sample, Summary};
use crate::stream_check::Violations;
use crate::user::{Reconnect, Trigger};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Everything a run measured, merged over its users.
#[derive(Debug, Default)]
pub struct RunResult {
    pub users: usize,
    pub duration_s: f64,
    pub started_utc: String,
    /// Seconds since the start when every user was trading, and when the trading stopped.
    pub steady_from: f64,
    pub trading_until: f64,
    pub ready: usize,
    pub settled: usize,
    /// A few reasons users failed, with how many failed so.
    pub failures: BTreeMap<String, usize>,
    pub violations: Violations,
    pub ledger: LedgerCounts,
    pub differences: usize,
    pub difference_examples: Vec<String>,
    pub round_trips: Vec<Sample>,
    pub market_data_lag: Vec<Sample>,
    pub reconnects: Vec<Reconnect>,
    pub errors: BTreeMap<String, u64>,
    pub chaos: Vec<ChaosRecord>,
    pub faults: FaultCounts,
    pub frames: u64,
    /// Frames received by all users while trading (from every user trading to the end of the trading time).
    pub trading_frames: u64,
    pub sampled: Sampled,
    pub load_before: String,
    pub load_after: String,
    pub settings: Vec<(String, String)>,
}

/// One goal of the issue and what was measured against it.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    pub name: &'static str,
    pub target: &'static str,
    pub measured: String,
    pub met: bool,
    /// A goal of zero loss or duplication: the run fails (non-zero exit) when it is missed.
    pub integrity: bool,
}

impl RunResult {
    /// Lost messages: acknowledged orders whose report never came, seqs skipped by gaps, unanswered orders.
    pub fn lost(&self) -> u64 {
        self.ledger.lost_reports + self.violations.skipped + self.ledger.unacknowledged
    }

    /// Duplicated messages or orders.
    pub fn duplicated(&self) -> u64 {
        self.violations.duplicates
            + self.ledger.duplicate_acks
            + self.ledger.duplicate_orders
            + self.ledger.outcome_mismatches
    }

    pub fn reordered(&self) -> u64 {
        self.violations.reordered
    }

    /// Each chaos event's window: from the event until every user was live again, plus two seconds.
    fn chaos_windows(&self) -> Vec<(f64, f64)> {
        self.chaos.iter().map(|c| (c.at, c.at + c.all_live_after.unwrap_or(self.trading_until - c.at) + 2.0)).collect()
    }

    /// The samples taken outside every chaos event's window.
    pub fn outside_chaos(&self, samples: &[Sample]) -> Vec<Sample> {
        let windows = self.chaos_windows();
        samples.iter().filter(|s| !windows.iter().any(|(from, to)| *from <= s.at && s.at <= *to)).copied().collect()
    }

    /// The chaos event (its index) in whose window the user noticed the loss; `None` for a drop of its own. A window
    /// lasts until every user is live again, so one may still be open at the next event: the latest event begun
    /// before the loss was noticed is its cause.
    pub fn chaos_of(&self, reconnect: &Reconnect) -> Option<usize> {
        let noticed = reconnect.noticed_at;
        self.chaos_windows()
            .iter()
            .enumerate()
            .filter(|(_, (from, to))| *from <= noticed && noticed <= *to)
            .max_by(|(_, (a, _)), (_, (b, _))| a.total_cmp(b))
            .map(|(index, _)| index)
    }

    /// Reconnects from the users' own drops (cuts, reloads, closes and silences outside every chaos window), timed
    /// from the loss: what the reconnect goal is about.
    pub fn random_reconnects(&self) -> Vec<Sample> {
        self.reconnects.iter().filter(|r| self.chaos_of(r).is_none()).map(|r| r.sample).collect()
    }

    /// The reconnects event `index` caused, timed from the event itself (a killed host, say, is noticed only
    /// through the dead-link timeout), to the stream live again.
    pub fn chaos_reconnects(&self, index: usize) -> Vec<Sample> {
        let event_at = self.chaos[index].at;
        self.reconnects
            .iter()
            .filter(|r| self.chaos_of(r) == Some(index))
            .map(|r| Sample { at: r.sample.at, value: (r.sample.at - event_at) * 1000.0 + r.sample.value })
            .collect()
    }

    /// Frames (PostToConnection calls) per user per second while every user traded.
    pub fn frames_per_user_second(&self) -> f64 {
        self.trading_frames as f64 / self.duration_s.max(1e-9) / self.ready.max(1) as f64
    }

    pub fn goals(&self) -> Vec<Goal> {
        let round_trip = Summary::of(&self.round_trips);
        let reconnect = Summary::of(&self.random_reconnects());
        let survived = self.chaos.iter().filter(|c| c.survived()).count();
        vec![
            Goal {
                name: "concurrent users",
                target: "all trading, all settled",
                measured: format!("{} of {} trading, {} settled", self.ready, self.users, self.settled),
                met: self.ready == self.users && self.settled == self.users,
                integrity: true,
            },
            Goal {
                name: "lost messages or orders",
                target: "0",
                measured: self.lost().to_string(),
                met: self.lost() == 0,
                integrity: true,
            },
            Goal {
                name: "duplicated messages or orders",
                target: "0",
                measured: self.duplicated().to_string(),
                met: self.duplicated() == 0,
                integrity: true,
            },
            Goal {
                name: "reordered messages",
                target: "0",
                measured: self.reordered().to_string(),
                met: self.reordered() == 0,
                integrity: true,
            },
            Goal {
                name: "ledger against the server's snapshot",
                target: "0 differences",
                measured: self.differences.to_string(),
                met: self.differences == 0,
                integrity: true,
            },
            Goal {
                name: "chaos events survived",
                target: "all",
                measured: format!("{survived} of {}", self.chaos.len()),
                met: survived == self.chaos.len(),
                integrity: true,
            },
            Goal {
                name: "order round trip p99",
                target: "< 25 ms",
                measured: format!("{:.2} ms ({} samples)", round_trip.p99, round_trip.count),
                met: round_trip.count > 0 && round_trip.p99 < 25.0,
                integrity: false,
            },
            Goal {
                name: "reconnect p95",
                target: "< 1 s (the users' own drops)",
                measured: format!(
                    "{:.0} ms ({} reconnects; {} more from chaos events, below)",
                    reconnect.p95,
                    reconnect.count,
                    self.reconnects.len() - reconnect.count
                ),
                met: reconnect.p95 < 1000.0,
                integrity: false,
            },
        ]
    }

    pub fn integrity_met(&self) -> bool {
        self.goals().iter().filter(|g| g.integrity).all(|g| g.met)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
}

fn summary_row(name: &str, summary: &Summary) -> String {
    format!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
        summary.count, summary.p50, summary.p90, summary.p95, summary.p99, summary.max, summary.mean
    )
}

const SUMMARY_HEADER: &str =
    "| | samples | p50 ms | p90 ms | p95 ms | p99 ms | max ms | mean ms |\n|---|---|---|---|---|---|---|---|\n";

/// Writes `report.md` and its charts into `dir`.
pub fn write(result: &RunResult, dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir)?;
    let events: Vec<(f64, String)> = result.chaos.iter().map(|c| (c.at, c.label.to_owned())).collect();
    let mut md = String::new();
    let _ = writeln!(md, "# Load and chaos run — {}\n", result.started_utc);
    let _ = writeln!(
        md,
        "{} virtual users for {:.0} s of trading (after a ramp of {:.0} s) against the whole local stack, through the \
         fault proxy, with {} chaos events. Load average before: {}; after: {}; during (1 min): {}.\n",
        result.users,
        result.duration_s,
        result.steady_from,
        result.chaos.len(),
        result.load_before,
        result.load_after,
        load_range(&result.sampled.load),
    );
    md.push_str("## Goals\n\n| goal | target | measured | |\n|---|---|---|---|\n");
    for goal in result.goals() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            goal.name,
            goal.target,
            goal.measured,
            if goal.met { "met" } else { "**missed**" }
        );
    }

    md.push_str("\n## Integrity\n\nEvery user checks its own stream as it applies it and its orders against a fresh snapshot at the end.\n\n");
    let integrity = integrity_rows(result);
    md.push_str("| count | value |\n|---|---|\n");
    for (name, value) in &integrity {
        let _ = writeln!(md, "| {name} | {value} |");
    }
    let faults = result.faults;
    let _ = writeln!(
        md,
        "\nFaults the proxy applied: {} cuts, {} stalls, {} slices (one per connection).",
        faults.cuts, faults.stalls, faults.slices
    );
    charts::bars(
        &dir.join("integrity.svg"),
        "Lost, duplicated, reordered (all must be 0)",
        &integrity[..MUST_BE_ZERO],
    )?;
    md.push_str("\n![integrity](integrity.svg)\n");
    if !result.difference_examples.is_empty() {
        md.push_str("\nFirst differences between a ledger and its snapshot:\n\n");
        for example in &result.difference_examples {
            let _ = writeln!(md, "- {example}");
        }
    }
    if !result.failures.is_empty() {
        md.push_str("\nUsers that did not trade or settle:\n\n");
        for (reason, count) in &result.failures {
            let _ = writeln!(md, "- {count} × {reason}");
        }
    }

    latency_section(
        &mut md,
        dir,
        result,
        "Order round trip",
        "round_trip",
        &result.round_trips,
        &events,
        "send of an order to its `order_ack` (first attempts only: a retry's answer is immediate)",
    )?;
    latency_section(
        &mut md,
        dir,
        result,
        "Market-data lag",
        "market_data_lag",
        &result.market_data_lag,
        &events,
        "arrival of a live frame's latest market-data event against its simulated time, less the least such offset the user saw (at 1x simulated time runs with wall time, so this is the delay on top of the best delivery)",
    )?;
    reconnect_section(&mut md, dir, result, &events)?;
    chaos_section(&mut md, result);
    errors_section(&mut md, dir, result)?;
    resources_section(&mut md, dir, result)?;

    md.push_str("\n## Settings\n\n| setting | value |\n|---|---|\n");
    for (name, value) in &result.settings {
        let _ = writeln!(md, "| {name} | {value} |");
    }
    std::fs::write(dir.join("report.md"), md)?;
    Ok(())
}

fn load_range(load: &[(f64, f64)]) -> String {
    let values = load.iter().map(|(_, l)| *l);
    match (values.clone().reduce(f64::min), values.reduce(f64::max)) {
        (Some(min), Some(max)) => format!("{min:.2}–{max:.2}"),
        _ => "not sampled".into(),
    }
}

fn integrity_rows(result: &RunResult) -> Vec<(String, f64)> {
    let (v, l) = (&result.violations, &result.ledger);
    [
        ("lost: acknowledged orders whose report never came", l.lost_reports),
        ("lost: seqs skipped by gaps", v.skipped),
        ("lost: orders never answered", l.unacknowledged),
        ("duplicated: events delivered again", v.duplicates),
        ("duplicated: acks without an attempt", l.duplicate_acks),
        ("duplicated: second order for a client order id", l.duplicate_orders),
        ("duplicated: retry answered differently", l.outcome_mismatches),
        ("reordered events", v.reordered),
        ("gaps (frames past the next seq)", v.gaps),
        ("ledger differences from the final snapshot", result.differences as u64),
        ("orders (distinct client order ids)", l.orders),
        ("order attempts (with retries)", l.attempts),
        ("orders answered", l.acknowledged),
        ("of which rejected by the engine", l.rejected),
        ("cancels sent", l.cancels),
        ("frames received", result.frames),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value as f64))
    .collect()
}

/// The first rows of [`integrity_rows`] are the counts that must be zero.
const MUST_BE_ZERO: usize = 10;

#[allow(clippy::too_many_arguments)]
fn latency_section(
    md: &mut String,
    dir: &Path,
    result: &RunResult,
    title: &str,
    file: &str,
    samples: &[Sample],
    events: &[(f64, String)],
    definition: &str,
) -> Result<(), ReportError> {
    let _ = writeln!(md, "\n## {title}\n\nFrom the {definition}.\n");
    md.push_str(SUMMARY_HEADER);
    md.push_str(&summary_row("whole run", &Summary::of(samples)));
    md.push_str(&summary_row("outside chaos windows", &Summary::of(&result.outside_chaos(samples))));
    charts::histogram(
        &dir.join(format!("{file}_histogram.svg")),
        &format!("{title}: histogram"),
        &stats::log_buckets(samples, 10),
    )?;
    let windows = stats::windows(samples, 5.0);
    charts::over_time(
        &dir.join(format!("{file}_over_time.svg")),
        &format!("{title}: percentiles per 5 s"),
        &windows,
        events,
    )?;
    let _ = writeln!(md, "\n![{title} histogram]({file}_histogram.svg)\n\n![{title} over time]({file}_over_time.svg)");
    Ok(())
}

fn reconnect_section(
    md: &mut String,
    dir: &Path,
    result: &RunResult,
    events: &[(f64, String)],
) -> Result<(), ReportError> {
    md.push_str("\n## Reconnect time\n\nFrom the moment a user lost its link (its own cut or reload, a close it saw, or for silence past the dead-link timeout the last frame it heard) to its stream live again (welcome received and the replay or snapshot applied: the first resumed frame). The goal is about the users' own drops, outside every chaos window; a loss noticed in a chaos event's window is the event's and is timed from the event (a killed host is noticed only through the 12 s dead-link timeout, by design).\n\n");
    md.push_str(SUMMARY_HEADER);
    let all: Vec<Sample> = result.reconnects.iter().map(|r| r.sample).collect();
    md.push_str(&summary_row("every reconnect, from the loss", &Summary::of(&all)));
    md.push_str(&summary_row("the users' own drops (the goal)", &Summary::of(&result.random_reconnects())));
    let mut by_trigger: BTreeMap<Trigger, Vec<Sample>> = BTreeMap::new();
    for reconnect in result.reconnects.iter().filter(|r| result.chaos_of(r).is_none()) {
        by_trigger.entry(reconnect.trigger).or_default().push(reconnect.sample);
    }
    for (trigger, samples) in &by_trigger {
        md.push_str(&summary_row(&format!("own drops: {}", trigger.name()), &Summary::of(samples)));
    }
    for (index, event) in result.chaos.iter().enumerate() {
        let caused = Summary::of(&result.chaos_reconnects(index));
        md.push_str(&summary_row(&format!("caused by the {}, from the event", event.label), &caused));
    }
    let mut points: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for reconnect in &result.reconnects {
        let series = match result.chaos_of(reconnect) {
            Some(index) => format!("chaos: {}", result.chaos[index].label),
            None => reconnect.trigger.name().to_owned(),
        };
        points.entry(series).or_default().push((reconnect.sample.at, reconnect.sample.value));
    }
    charts::histogram(
        &dir.join("reconnect_histogram.svg"),
        "Reconnect time: histogram",
        &stats::log_buckets(&all, 10),
    )?;
    charts::scatter(&dir.join("reconnect_over_time.svg"), "Reconnect time, each reconnect", &points, events)?;
    md.push_str(
        "\n![reconnect histogram](reconnect_histogram.svg)\n\n![reconnects over time](reconnect_over_time.svg)\n",
    );
    Ok(())
}

fn chaos_section(md: &mut String, result: &RunResult) {
    md.push_str("\n## Chaos\n\nEach event, when it happened, and how long until every user's stream was live again. \"Nothing acknowledged lost\" is the integrity table above: it covers every event.\n\n");
    md.push_str("| at (s) | UTC | event | what happened | fewest users live | every user live again after | reconnects it caused, from the event | |\n|---|---|---|---|---|---|---|---|\n");
    for (i, event) in result.chaos.iter().enumerate() {
        let summary = Summary::of(&result.chaos_reconnects(i));
        let _ = writeln!(
            md,
            "| {:.1} | {} | {} | {} | {} | {} | {} (p50 {:.0} ms, max {:.0} ms) | {} |",
            event.at,
            event.utc,
            event.name,
            event.failed.as_deref().unwrap_or(&event.detail),
            event.least_live,
            event.all_live_after.map_or("not before the next event".into(), |s| format!("{s:.1} s")),
            summary.count,
            summary.p50,
            summary.max,
            if event.survived() { "survived" } else { "**not survived**" },
        );
    }
}

fn errors_section(md: &mut String, dir: &Path, result: &RunResult) -> Result<(), ReportError> {
    md.push_str("\n## Errors by code\n\nEvery refusal the users met: HTTP answers (`http_<status>_<code>`), stream `error` messages (`ws_error_<code>`), refused WebSocket upgrades (`ws_connect_<status>`). Most are the expected answers during chaos, retried.\n\n| code | count |\n|---|---|\n");
    let mut errors: Vec<(String, f64)> = result.errors.iter().map(|(code, n)| (code.clone(), *n as f64)).collect();
    errors.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (code, count) in &errors {
        let _ = writeln!(md, "| `{code}` | {count} |");
    }
    if errors.is_empty() {
        md.push_str("| (none) | 0 |\n");
    }
    charts::bars(&dir.join("errors.svg"), "Errors by code", &errors)?;
    md.push_str("\n![errors by code](errors.svg)\n");
    Ok(())
}

fn resources_section(md: &mut String, dir: &Path, result: &RunResult) -> Result<(), ReportError> {
    md.push_str("\n## CPU and memory per process\n\nSampled from `/proc/<pid>/stat` and `status` every second; CPU in percent of one core (the machine has 2). PostgreSQL is the server and all its backends together. \"While trading\" is from every user trading to the end of the trading time (chaos included).\n\n| process | mean CPU % | mean CPU % while trading | max CPU % | max RSS MiB |\n|---|---|---|---|---|\n");
    let mut cpu: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut memory: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for sample in &result.sampled.processes {
        cpu.entry(sample.process.clone()).or_default().push((sample.at, sample.cpu_percent));
        memory.entry(sample.process.clone()).or_default().push((sample.at, sample.rss_mib));
    }
    let mean = |points: &[(f64, f64)]| points.iter().map(|p| p.1).sum::<f64>() / points.len().max(1) as f64;
    let trading = |points: &[(f64, f64)]| -> Vec<(f64, f64)> {
        points.iter().filter(|(at, _)| (result.steady_from..=result.trading_until).contains(at)).copied().collect()
    };
    // The push path: the hosts and the gateway, summed over the samples (one a second) while trading, so that a
    // host killed or started meanwhile counts for the time it ran.
    let mut push_path_cpu_s = 0.0;
    for (process, points) in &cpu {
        let while_trading = trading(points);
        if process.starts_with("host ") || process.starts_with("tradesim-dev") {
            push_path_cpu_s += while_trading.iter().map(|p| p.1 / 100.0).sum::<f64>();
        }
        let while_trading = mean(&while_trading);
        let max = points.iter().map(|p| p.1).fold(0.0, f64::max);
        let rss = memory[process].iter().map(|p| p.1).fold(0.0, f64::max);
        let _ = writeln!(md, "| {process} | {:.1} | {while_trading:.1} | {max:.1} | {rss:.0} |", mean(points));
    }
    let frames_per_second = result.trading_frames as f64 / result.duration_s.max(1e-9);
    let push_path_percent = push_path_cpu_s / result.duration_s.max(1e-9) * 100.0;
    let _ = writeln!(
        md,
        "\nWhile trading: {:.2} frames per user per second ({frames_per_second:.0}/s in all, each one PostToConnection \
         through the local gateway); the hosts and tradesim-dev together used {push_path_percent:.0}% of a core, \
         {:.0} µs of CPU per frame (everything they do, divided by the frames).",
        result.frames_per_user_second(),
        push_path_percent / 100.0 * 1e6 / frames_per_second.max(1e-9),
    );
    charts::lines(&dir.join("cpu.svg"), "CPU per process", "% of one core", &cpu)?;
    charts::lines(&dir.join("memory.svg"), "Resident memory per process", "MiB", &memory)?;
    let load = BTreeMap::from([("1-minute load average".to_owned(), result.sampled.load.clone())]);
    charts::lines(&dir.join("load.svg"), "Machine load average", "load", &load)?;
    md.push_str("\n![cpu](cpu.svg)\n\n![memory](memory.svg)\n\n![load average](load.svg)\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: f64, value: f64) -> Sample {
        Sample { at, value }
    }

    #[test]
    fn chaos_windows_are_left_out_of_the_steady_state_samples() {
        let result = RunResult {
            trading_until: 100.0,
            chaos: vec![
                ChaosRecord { at: 10.0, all_live_after: Some(3.0), ..record() },
                ChaosRecord { at: 50.0, all_live_after: None, ..record() },
            ],
            ..RunResult::default()
        };
        let kept = result.outside_chaos(&[sample(9.0, 1.0), sample(12.0, 1.0), sample(15.5, 1.0), sample(60.0, 1.0)]);
        assert_eq!(kept.iter().map(|s| s.at).collect::<Vec<_>>(), vec![9.0, 15.5]);
    }

    #[test]
    fn reconnects_noticed_in_a_chaos_window_are_the_events_and_timed_from_it() {
        let reconnect = |lost_at: f64, noticed_at: f64, ms: f64, trigger| Reconnect {
            sample: sample(lost_at, ms),
            noticed_at,
            trigger,
        };
        let result = RunResult {
            trading_until: 100.0,
            chaos: vec![ChaosRecord { at: 10.0, all_live_after: Some(14.0), ..record() }],
            reconnects: vec![
                reconnect(5.0, 5.0, 300.0, Trigger::Cut),
                // A killed host: silence from just before the kill, noticed 12 s later.
                reconnect(9.95, 21.95, 12_500.0, Trigger::DeadLink),
                reconnect(30.0, 30.0, 400.0, Trigger::Reload),
            ],
            ..RunResult::default()
        };
        assert_eq!(result.random_reconnects().iter().map(|s| s.value).collect::<Vec<_>>(), vec![300.0, 400.0]);
        let caused = result.chaos_reconnects(0);
        assert_eq!(caused.len(), 1);
        assert!((caused[0].value - 12_450.0).abs() < 1e-6, "{caused:?}");
        let goal = result.goals().into_iter().find(|g| g.name == "reconnect p95").unwrap();
        assert!(goal.met, "{goal:?}");
    }

    #[test]
    fn a_loss_noticed_while_two_windows_are_open_belongs_to_the_later_event() {
        let reconnect =
            |noticed_at: f64| Reconnect { sample: sample(noticed_at, 500.0), noticed_at, trigger: Trigger::Cut };
        let result = RunResult {
            trading_until: 100.0,
            // The first event's window never closed (not every user was live again before the run ended).
            chaos: vec![
                ChaosRecord { at: 10.0, all_live_after: None, ..record() },
                ChaosRecord { at: 40.0, all_live_after: Some(5.0), ..record() },
            ],
            reconnects: vec![reconnect(20.0), reconnect(41.0), reconnect(60.0)],
            ..RunResult::default()
        };
        let caused: Vec<_> = result.reconnects.iter().map(|r| result.chaos_of(r)).collect();
        assert_eq!(caused, vec![Some(0), Some(1), Some(0)]);
        assert_eq!(result.chaos_reconnects(1).iter().map(|s| s.value).collect::<Vec<_>>(), vec![1_500.0]);
    }

    fn record() -> ChaosRecord {
        ChaosRecord {
            name: "restart the local gateway".into(),
            label: "gateway restart",
            at: 0.0,
            utc: String::new(),
            detail: String::new(),
            failed: None,
            least_live: 0,
            all_live_after: Some(1.0),
        }
    }

    #[test]
    fn integrity_goals_fail_on_any_loss_or_duplicate_and_latency_goals_only_report() {
        let mut result =
            RunResult { users: 2, ready: 2, settled: 2, round_trips: vec![sample(1.0, 40.0)], ..RunResult::default() };
        assert!(result.integrity_met());
        let goals = result.goals();
        assert!(!goals.iter().find(|g| g.name == "order round trip p99").unwrap().met);
        result.ledger.duplicate_orders = 1;
        assert_eq!(result.duplicated(), 1);
        assert!(!result.integrity_met());
        result.ledger.duplicate_orders = 0;
        result.chaos.push(ChaosRecord { all_live_after: None, ..record() });
        assert!(!result.integrity_met(), "an event not survived fails the run");
    }

    #[test]
    fn the_report_is_written_with_every_chart_it_links() {
        let dir = std::env::temp_dir().join(format!("tradesim-report-{}", std::process::id()));
        let result = RunResult {
            users: 1,
            ready: 1,
            settled: 1,
            round_trips: vec![sample(1.0, 2.0), sample(2.0, 3.0)],
            chaos: vec![record()],
            errors: BTreeMap::from([("http_503_unavailable".to_owned(), 3)]),
            ..RunResult::default()
        };
        write(&result, &dir).unwrap();
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        for link in md.split("](").skip(1).map(|rest| rest.split(')').next().unwrap()) {
            assert!(dir.join(link).is_file(), "{link} is linked but missing");
        }
        assert!(md.contains("| order round trip p99 | < 25 ms | 3.00 ms (2 samples) | met |"), "{md}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
