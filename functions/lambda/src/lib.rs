//! What the six Lambda binaries share, so that each stays parse, call, map: the configuration from the
//! environment ([`Settings`]), the control plane built from it ([`plane`]), API Gateway's side of WebSocket
//! connections ([`ApiGatewayConnections`], DeleteConnection), the HTTP adapter ([`http`]) and the WebSocket
//! event mapping ([`ws`]).
//!
//! Configuration (an empty value counts as unset):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | (required) | PostgreSQL (through RDS Proxy in AWS) |
//! | `TRADESIM_DB_POOL` | `2` | connections per Lambda instance (one request at a time each) |
//! | `TRADESIM_SIGNING_KEY` | (required) | the Ed25519 private key that signs access tokens: 32 bytes, base64 |
//! | `TRADESIM_ISSUER` | `tradesim` | access tokens' `iss` |
//! | `TRADESIM_AUDIENCE` | `tradesim-api` | access tokens' `aud` |
//! | `TRADESIM_SERVICE_TOKEN` | (required) | bearer credential of the hosts' internal API |
//! | `TRADESIM_WS_ENDPOINT` | (required) | the WebSocket API's management endpoint, `https://{api}.execute-api.{region}.amazonaws.com/{stage}` |
//! | `TRADESIM_ALLOWED_ORIGINS` | (empty: any) | comma-separated browser origins allowed to open the WebSocket |
//! | `TRADESIM_LOG` | `info` | log filter |
//!
//! AWS credentials and region come from the Lambda environment.

pub mod http;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ws;

use base64::Engine as _;
use std::sync::Arc;
use tradesim_control::domain::ConnectionId;
use tradesim_control::hosts::BoxFuture;
use tradesim_control::{Config, ControlError, ControlPlane, GatewayConfig, GatewayConnections};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
    #[error(transparent)]
    Control(#[from] ControlError),
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub pool_size: usize,
    pub signing_seed: [u8; 32],
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub service_token: String,
    pub ws_endpoint: String,
    pub allowed_origins: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password; the key and the token are credentials.
        f.debug_struct("Settings").field("ws_endpoint", &self.ws_endpoint).finish_non_exhaustive()
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let required = |name: &'static str| var(name).ok_or(SettingsError::Missing(name));
        let key = base64::engine::general_purpose::STANDARD
            .decode(required("TRADESIM_SIGNING_KEY")?.trim())
            .map_err(|e| SettingsError::Invalid("TRADESIM_SIGNING_KEY", e.to_string()))?;
        let signing_seed = <[u8; 32]>::try_from(key.as_slice())
            .map_err(|_| SettingsError::Invalid("TRADESIM_SIGNING_KEY", "it must decode to 32 bytes".into()))?;
        let pool_size = match var("TRADESIM_DB_POOL") {
            Some(size) => size.parse().map_err(|_| SettingsError::Invalid("TRADESIM_DB_POOL", size))?,
            None => 2,
        };
        Ok(Self {
            database_url: required("DATABASE_URL")?,
            pool_size,
            signing_seed,
            issuer: var("TRADESIM_ISSUER"),
            audience: var("TRADESIM_AUDIENCE"),
            service_token: required("TRADESIM_SERVICE_TOKEN")?,
            ws_endpoint: required("TRADESIM_WS_ENDPOINT")?,
            allowed_origins: var("TRADESIM_ALLOWED_ORIGINS")
                .map(|list| list.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
        })
    }

    pub fn config(&self) -> Config {
        let mut config = Config::new(self.signing_seed);
        if let Some(issuer) = &self.issuer {
            config.issuer = issuer.clone();
        }
        if let Some(audience) = &self.audience {
            config.audience = audience.clone();
        }
        config
    }
}

/// JSON logs for CloudWatch, filtered by `TRADESIM_LOG`.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TRADESIM_LOG").unwrap_or_else(|_| "info".into()))
        .init();
}

/// The control plane of one Lambda instance, built once at cold start.
pub async fn plane(settings: &Settings) -> Result<ControlPlane, SettingsError> {
    let pool = tradesim_control::db::pool(&settings.database_url, settings.pool_size)?;
    let connections = Arc::new(ApiGatewayConnections::new(&settings.ws_endpoint).await);
    let gateway = GatewayConfig { allowed_origins: settings.allowed_origins.clone(), ..GatewayConfig::default() };
    Ok(ControlPlane::new(pool, settings.config(), gateway, &settings.service_token, connections)?)
}

/// API Gateway's side of WebSocket connections: DeleteConnection on the management API.
#[derive(Clone, Debug)]
pub struct ApiGatewayConnections {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiGatewayConnections {
    pub async fn new(endpoint: &str) -> Self {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(&shared).endpoint_url(endpoint).build();
        Self { client: aws_sdk_apigatewaymanagement::Client::from_conf(config) }
    }
}

impl GatewayConnections for ApiGatewayConnections {
    fn close<'a>(&'a self, connection: &'a ConnectionId) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            match self.client.delete_connection().connection_id(connection.as_str()).send().await {
                Ok(_) => Ok(()),
                Err(error) if error.as_service_error().is_some_and(|e| e.is_gone_exception()) => Ok(()),
                Err(error) => Err(ControlError::Unavailable(
                    aws_sdk_apigatewaymanagement::error::DisplayErrorContext(error).to_string(),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn settings_need_the_credentials_and_a_32_byte_key() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let full = [
            ("DATABASE_URL", "postgres://db/tradesim"),
            ("TRADESIM_SIGNING_KEY", key.as_str()),
            ("TRADESIM_SERVICE_TOKEN", "s"),
            ("TRADESIM_WS_ENDPOINT", "https://abc.execute-api.eu-west-1.amazonaws.com/prod"),
            ("TRADESIM_ALLOWED_ORIGINS", "https://a.test, https://b.test"),
            ("TRADESIM_AUDIENCE", "aud"),
        ];
        let settings = Settings::from_lookup(lookup(&full)).unwrap();
        assert_eq!((settings.signing_seed, settings.pool_size), ([7u8; 32], 2));
        assert_eq!(settings.allowed_origins, ["https://a.test", "https://b.test"]);
        assert_eq!((settings.config().issuer.as_str(), settings.config().audience.as_str()), ("tradesim", "aud"));
        let missing = Settings::from_lookup(lookup(&full[1..])).unwrap_err();
        assert_eq!(missing.to_string(), "DATABASE_URL is required");
        let mut short = full;
        short[1].1 = "AAAA";
        assert!(Settings::from_lookup(lookup(&short)).unwrap_err().to_string().contains("32 bytes"));
    }
}
