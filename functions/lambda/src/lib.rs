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
//! | `TRADESIM_SIGNING_KEY` | (required) | the Ed25519 private key that signs access tokens: 32 bytes, base64 (padding optional, so 43 generated alphanumerics do) |
//! | `TRADESIM_ISSUER` | `tradesim` | access tokens' `iss` |
//! | `TRADESIM_AUDIENCE` | `tradesim-api` | access tokens' `aud` |
//! | `TRADESIM_SERVICE_TOKEN` | (required) | bearer credential of the hosts' internal API |
//! | `TRADESIM_WS_ENDPOINT` | (required) | the WebSocket API's management endpoint, `https://{api}.execute-api.{region}.amazonaws.com/{stage}` |
//! | `TRADESIM_ALLOWED_ORIGINS` | (empty: any) | comma-separated browser origins allowed to open the WebSocket |
//! | `TRADESIM_CONNECTIONS_TABLE` | (unset: PostgreSQL) | the DynamoDB table of the connection registry |
//! | `TRADESIM_LOG` | `info` | log filter |
//!
//! AWS credentials and region come from the Lambda environment.

pub mod http;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ws;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::sync::Arc;
use tradesim_aws::{AwsError, RetryPolicy, call};
use tradesim_control::aws::{DynamoConnections, TableName};
use tradesim_control::domain::ConnectionId;
use tradesim_control::hosts::BoxFuture;
use tradesim_control::{
    Config, ConnectionRegistry, ControlError, ControlPlane, GatewayConfig, GatewayConnections, PgConnections,
};

/// Base64 with or without padding, and with the unused low bits of the last character ignored: Secrets Manager
/// generates alphanumerics, and 43 of them decode to the 32 bytes of a key.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

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
    /// The connection registry's DynamoDB table; `None`: the registry is in PostgreSQL.
    pub connections_table: Option<TableName>,
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
        let key = KEY_BASE64
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
            connections_table: var("TRADESIM_CONNECTIONS_TABLE")
                .map(|table| TableName::parse(&table))
                .transpose()
                .map_err(|e| SettingsError::Invalid("TRADESIM_CONNECTIONS_TABLE", e.to_string()))?,
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

/// The control plane of one Lambda instance, built once at cold start: the registry in DynamoDB when
/// `TRADESIM_CONNECTIONS_TABLE` names a table, else in PostgreSQL.
pub async fn plane(settings: &Settings) -> Result<ControlPlane, SettingsError> {
    let pool = tradesim_control::db::pool(&settings.database_url, settings.pool_size)?;
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let connections = Arc::new(ApiGatewayConnections::new(&shared, &settings.ws_endpoint, RetryPolicy::default()));
    let registry: Arc<dyn ConnectionRegistry> = match &settings.connections_table {
        Some(table) => Arc::new(DynamoConnections::new(&shared, table.clone(), pool.clone(), RetryPolicy::default())),
        None => Arc::new(PgConnections::new(pool.clone())),
    };
    let gateway = GatewayConfig { allowed_origins: settings.allowed_origins.clone(), ..GatewayConfig::default() };
    Ok(ControlPlane::with_registry(pool, settings.config(), gateway, &settings.service_token, connections, registry)?)
}

/// API Gateway's side of WebSocket connections: DeleteConnection on the management API.
#[derive(Clone, Debug)]
pub struct ApiGatewayConnections {
    client: aws_sdk_apigatewaymanagement::Client,
    retry: RetryPolicy,
}

impl ApiGatewayConnections {
    /// For the management `endpoint` (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`); credentials and
    /// region from `shared`; throttling retried through `retry` only.
    pub fn new(shared: &aws_config::SdkConfig, endpoint: &str, retry: RetryPolicy) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(shared)
            .endpoint_url(endpoint)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self { client: aws_sdk_apigatewaymanagement::Client::from_conf(config), retry }
    }
}

impl GatewayConnections for ApiGatewayConnections {
    fn close<'a>(&'a self, connection: &'a ConnectionId) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            let request = self.client.delete_connection().connection_id(connection.as_str());
            match call(&self.retry, "API Gateway DeleteConnection", || request.clone().send()).await {
                Ok(_) => Ok(()),
                // Gone already: closed is what was asked.
                Err(AwsError::Refused { code, .. }) if code == "GoneException" => Ok(()),
                Err(error) => Err(error.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tradesim_aws::moto::Moto;

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
        assert_eq!(settings.connections_table, None);
        let missing = Settings::from_lookup(lookup(&full[1..])).unwrap_err();
        assert_eq!(missing.to_string(), "DATABASE_URL is required");
        let mut short = full;
        short[1].1 = "AAAA";
        assert!(Settings::from_lookup(lookup(&short)).unwrap_err().to_string().contains("32 bytes"));
    }

    #[test]
    fn a_generated_alphanumeric_key_and_the_dynamodb_table_are_read() {
        let generated = "q".repeat(43);
        let pairs = [
            ("DATABASE_URL", "postgres://db/tradesim"),
            ("TRADESIM_SIGNING_KEY", generated.as_str()),
            ("TRADESIM_SERVICE_TOKEN", "s"),
            ("TRADESIM_WS_ENDPOINT", "https://abc.execute-api.eu-west-1.amazonaws.com/prod"),
            ("TRADESIM_CONNECTIONS_TABLE", "tradesim-connections"),
        ];
        let settings = Settings::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(settings.connections_table.unwrap().as_str(), "tradesim-connections");
        let mut bad = pairs;
        bad[4].1 = "no spaces allowed";
        let error = Settings::from_lookup(lookup(&bad)).unwrap_err().to_string();
        assert!(error.starts_with("TRADESIM_CONNECTIONS_TABLE is not valid"), "{error}");
    }

    #[tokio::test]
    async fn delete_connection_reaches_the_management_api() {
        let moto = Moto::start();
        let shared = moto.sdk_config().await;
        let connections = ApiGatewayConnections::new(&shared, &moto.endpoint(), RetryPolicy::default());
        let management = aws_sdk_apigatewaymanagement::Client::new(&shared);
        // moto makes up a connection for any id it is asked about, and forgets it on DeleteConnection: a later
        // GetConnection makes a new one, connected later.
        let id = ConnectionId::parse("d9ZOKdU7oAMCJ-g=").unwrap();
        let first = management.get_connection().connection_id(id.as_str()).send().await.unwrap();
        connections.close(&id).await.unwrap();
        let again = management.get_connection().connection_id(id.as_str()).send().await.unwrap();
        assert!(again.connected_at().unwrap() > first.connected_at().unwrap(), "{first:?} {again:?}");
    }
}
