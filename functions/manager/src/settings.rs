//! The manager's configuration, from the environment (an empty value counts as unset):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | (required) | PostgreSQL (through RDS Proxy) |
//! | `TRADESIM_SERVICE_TOKEN` | (required) | bearer credential of the hosts' internal API |
//! | `TRADESIM_ECS_CLUSTER` | (required) | the cluster the hosts run in |
//! | `TRADESIM_ECS_TASK_FAMILY` | `tradesim-host` | the hosts' task definition family |
//! | `TRADESIM_ECS_SUBNETS` | (required) | comma-separated subnets of new host tasks |
//! | `TRADESIM_ECS_SECURITY_GROUPS` | (none) | comma-separated security groups of new host tasks |
//! | `TRADESIM_HOST_PORT` | `8090` | the hosts' internal API port |
//! | `TRADESIM_MAX_HOSTS` | `10` | at most this many host tasks run |
//! | `TRADESIM_SPARE_SLOTS` | `50` | free simulator slots kept across live hosts |
//! | `TRADESIM_DB_POOL` | `4` | PostgreSQL connections |
//! | `TRADESIM_LOG` | `info` | log filter; logs are JSON |

use tradesim_control::ManagerConfig;
use tradesim_control::aws::EcsLauncherConfig;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} is not valid: {1:?}")]
    Invalid(&'static str, String),
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub service_token: String,
    pub pool_size: usize,
    pub ecs: EcsLauncherConfig,
    pub manager: ManagerConfig,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL carries a password; the token is a credential.
        f.debug_struct("Settings").field("ecs", &self.ecs).field("manager", &self.manager).finish_non_exhaustive()
    }
}

impl Settings {
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let required = |name: &'static str| var(name).ok_or(SettingsError::Missing(name));
        let list =
            |value: String| value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        fn number<T: std::str::FromStr>(
            name: &'static str,
            value: Option<String>,
            default: T,
        ) -> Result<T, SettingsError> {
            value.map_or(Ok(default), |v| v.parse().map_err(|_| SettingsError::Invalid(name, v)))
        }
        let subnets: Vec<String> = list(required("TRADESIM_ECS_SUBNETS")?);
        if subnets.is_empty() {
            return Err(SettingsError::Missing("TRADESIM_ECS_SUBNETS"));
        }
        let mut ecs = EcsLauncherConfig::new(
            required("TRADESIM_ECS_CLUSTER")?,
            var("TRADESIM_ECS_TASK_FAMILY").unwrap_or_else(|| "tradesim-host".into()),
            subnets,
        );
        ecs.security_groups = var("TRADESIM_ECS_SECURITY_GROUPS").map(list).unwrap_or_default();
        ecs.port = number("TRADESIM_HOST_PORT", var("TRADESIM_HOST_PORT"), ecs.port)?;
        let defaults = ManagerConfig::default();
        let manager = ManagerConfig {
            max_hosts: number("TRADESIM_MAX_HOSTS", var("TRADESIM_MAX_HOSTS"), 10)?,
            spare_slots: number("TRADESIM_SPARE_SLOTS", var("TRADESIM_SPARE_SLOTS"), defaults.spare_slots)?,
            // The hosts outlive the manager: a new manager task finds them by their task family.
            stop_hosts_on_shutdown: false,
            ..defaults
        };
        Ok(Self {
            database_url: required("DATABASE_URL")?,
            service_token: required("TRADESIM_SERVICE_TOKEN")?,
            pool_size: number("TRADESIM_DB_POOL", var("TRADESIM_DB_POOL"), 4)?,
            ecs,
            manager,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Settings::from_lookup(|name| map.get(name).map(|v| (*v).to_owned()))
    }

    const REQUIRED: [(&str, &str); 4] = [
        ("DATABASE_URL", "postgres://proxy/tradesim"),
        ("TRADESIM_SERVICE_TOKEN", "token"),
        ("TRADESIM_ECS_CLUSTER", "tradesim"),
        ("TRADESIM_ECS_SUBNETS", "subnet-a, subnet-b"),
    ];

    #[test]
    fn the_required_variables_are_enough_and_hosts_outlive_the_manager() {
        let settings = settings(&REQUIRED).unwrap();
        assert_eq!(settings.ecs.subnets, ["subnet-a", "subnet-b"]);
        assert_eq!((settings.ecs.task_family.as_str(), settings.ecs.port), ("tradesim-host", 8090));
        assert_eq!((settings.manager.max_hosts, settings.manager.stop_hosts_on_shutdown), (10, false));
    }

    #[test]
    fn a_missing_or_bad_value_names_its_variable() {
        assert_eq!(settings(&REQUIRED[1..]).unwrap_err(), SettingsError::Missing("DATABASE_URL"));
        let mut bad = REQUIRED.to_vec();
        bad.push(("TRADESIM_MAX_HOSTS", "many"));
        assert_eq!(settings(&bad).unwrap_err().to_string(), "TRADESIM_MAX_HOSTS is not valid: \"many\"");
        bad[3].1 = " , ";
        assert_eq!(settings(&bad).unwrap_err(), SettingsError::Missing("TRADESIM_ECS_SUBNETS"));
    }
}
