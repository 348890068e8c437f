//! The chaos of a run: events against the stack and the proxy at scheduled moments, each logged with its wall
//! time, and watched until every user's stream is live again.

use crate::proxy::FaultProxy;
use crate::stack::LocalStack;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// One thing done to the system under load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Chaos {
    /// A share of the proxied connections held (their bytes kept, not lost) for a while.
    Stall { share: f64, duration: Duration },
    /// PostgreSQL stopped (fast shutdown: every client disconnected) and started again after `down`.
    RestartPostgres { down: Duration },
    /// The local gateway stopped (every socket closed) and started again on its port; hosts keep running.
    RestartGateway,
    /// A simulator host killed with SIGKILL: the manager must notice and re-home its simulators.
    KillHost,
}

impl Chaos {
    /// Parses a comma-separated list of `stall`, `postgres`, `gateway`, `kill`.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty() && *name != "none")
            .map(|name| match name {
                "stall" => Ok(Self::Stall { share: 0.3, duration: Duration::from_secs(5) }),
                "postgres" => Ok(Self::RestartPostgres { down: Duration::from_secs(2) }),
                "gateway" => Ok(Self::RestartGateway),
                "kill" => Ok(Self::KillHost),
                other => Err(format!("unknown chaos {other:?}: use stall, postgres, gateway, kill")),
            })
            .collect()
    }

    pub fn name(&self) -> String {
        match self {
            Self::Stall { share, duration } => {
                format!("stall {:.0}% of connections for {} s", share * 100.0, duration.as_secs())
            }
            Self::RestartPostgres { down } => format!("restart PostgreSQL ({} s down)", down.as_secs()),
            Self::RestartGateway => "restart the local gateway".into(),
            Self::KillHost => "SIGKILL a simulator host".into(),
        }
    }

    /// A short label for charts.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Stall { .. } => "stall",
            Self::RestartPostgres { .. } => "PostgreSQL restart",
            Self::RestartGateway => "gateway restart",
            Self::KillHost => "host SIGKILL",
        }
    }

    /// How long the event's effect may take to reach the users: a killed host is noticed only through the
    /// dead-link timeout (12 s), since the gateway keeps the sockets of its connections open.
    fn reaches_users_within(&self) -> Duration {
        match self {
            Self::Stall { duration, .. } => *duration + Duration::from_secs(1),
            Self::RestartPostgres { down } => *down + Duration::from_secs(2),
            Self::RestartGateway => Duration::from_secs(2),
            Self::KillHost => Duration::from_secs(14),
        }
    }
}

/// `events` spread evenly over `duration`: the first after 1/(n+1) of it, the last after n/(n+1).
pub fn schedule(events: &[Chaos], duration: Duration) -> Vec<(Duration, Chaos)> {
    let slots = events.len() as u32 + 1;
    events.iter().enumerate().map(|(i, chaos)| (duration * (i as u32 + 1) / slots, *chaos)).collect()
}

/// What happened at one event.
#[derive(Clone, Debug, PartialEq)]
pub struct ChaosRecord {
    pub name: String,
    pub label: &'static str,
    /// Seconds since the run started.
    pub at: f64,
    pub utc: String,
    pub detail: String,
    pub failed: Option<String>,
    /// The fewest users live while it was watched.
    pub least_live: usize,
    /// Seconds after the event when every user was live again (`None`: not before the watch ended).
    pub all_live_after: Option<f64>,
}

impl ChaosRecord {
    pub fn survived(&self) -> bool {
        self.failed.is_none() && self.all_live_after.is_some()
    }
}

/// Wall-clock time as `YYYY-MM-DD HH:MM:SS.mmm UTC`.
pub fn utc(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (days, seconds) = ((since.as_secs() / 86_400) as i64, since.as_secs() % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        since.subsec_millis()
    )
}

/// When a chaos schedule runs.
#[derive(Clone, Copy, Debug)]
pub struct Times {
    /// The run's time zero (records are timed from it).
    pub started: Instant,
    /// The schedule's offsets count from here.
    pub from: Instant,
    /// The last event is watched until here.
    pub watch_until: Instant,
}

/// Runs `schedule`, watching `live` against `users` after each event until the next one.
pub async fn run(
    schedule: &[(Duration, Chaos)],
    stack: &LocalStack,
    proxy: &FaultProxy,
    live: &AtomicUsize,
    users: usize,
    times: Times,
) -> Vec<ChaosRecord> {
    let Times { started, from, watch_until } = times;
    let mut records = Vec::new();
    for (i, (offset, chaos)) in schedule.iter().enumerate() {
        tokio::time::sleep_until(from + *offset).await;
        let at = Instant::now();
        let utc_at = utc(SystemTime::now());
        let outcome = match chaos {
            Chaos::Stall { share, duration } => {
                Ok(format!("{} connections stalled", proxy.stall_share(*share, *duration)))
            }
            Chaos::RestartPostgres { down } => {
                stack.restart_postgres(*down).await.map(|()| "stopped and started".into())
            }
            Chaos::RestartGateway => stack.restart_gateway().map(|()| "SIGHUP sent to tradesim-dev".into()),
            Chaos::KillHost => stack
                .kill_host()
                .map(|host| format!("host {} (pid {}) killed", host.host_id, host.pid))
                .ok_or_else(|| crate::stack::StackError::Start("no host to kill".into())),
        };
        let (detail, failed) = match outcome {
            Ok(detail) => (detail, None),
            Err(error) => (String::new(), Some(error.to_string())),
        };
        println!(
            "[{utc_at}] +{:.1} s chaos: {}: {}",
            at.duration_since(started).as_secs_f64(),
            chaos.name(),
            failed.as_deref().unwrap_or(&detail)
        );
        let until = schedule.get(i + 1).map_or(watch_until, |(next, _)| from + *next);
        let reached = at + chaos.reaches_users_within();
        let mut least_live = users;
        let mut all_live_after = None;
        while Instant::now() < until {
            let now_live = live.load(Ordering::Relaxed);
            least_live = least_live.min(now_live);
            if Instant::now() >= reached && now_live >= users {
                all_live_after = Some(Instant::now().duration_since(at).as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match all_live_after {
            Some(after) => println!(
                "[{}] every user live again {after:.1} s after it (fewest live: {least_live})",
                utc(SystemTime::now())
            ),
            None => println!("[{}] not every user was live again before the next event", utc(SystemTime::now())),
        }
        records.push(ChaosRecord {
            name: chaos.name(),
            label: chaos.label(),
            at: at.duration_since(started).as_secs_f64(),
            utc: utc_at,
            detail,
            failed,
            least_live,
            all_live_after,
        });
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_spread_evenly_and_names_parse() {
        let events = Chaos::parse_list("stall, postgres,gateway,kill").unwrap();
        let at: Vec<u64> = schedule(&events, Duration::from_secs(100)).iter().map(|(at, _)| at.as_secs()).collect();
        assert_eq!(at, vec![20, 40, 60, 80]);
        assert_eq!(events[3], Chaos::KillHost);
        assert!(Chaos::parse_list("meteor").is_err());
        assert!(Chaos::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn wall_time_is_printed_as_a_utc_date() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_119_230_123);
        assert_eq!(utc(at), "2026-12-01 10:00:30.123 UTC");
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00.000 UTC");
    }
}
