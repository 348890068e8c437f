//! The connection registry in DynamoDB (feature `aws`): one item per connection, keyed by its id, with a global
//! secondary index by sign-in ([`FAMILY_INDEX`]) for closing a revoked sign-in's sockets, and a TTL attribute
//! ([`EXPIRES_AT`]) so that records whose `$disconnect` never ran disappear by themselves. The audit trail stays in
//! PostgreSQL: opening and closing are recorded there after DynamoDB has answered.
//!
//! The table (infra/ creates it): partition key `id` (S); attributes `user`, `session`, `sim`, `family` (S),
//! `connected_at` (N, microseconds since the epoch), `expires_at` (N, seconds since the epoch, the TTL attribute);
//! index [`FAMILY_INDEX`] with partition key `family` (S), sort key `connected_at` (N), all attributes projected.

use crate::audit::{self, AuditEvent};
use crate::connections::{Connection, ConnectionRegistry};
use crate::db::stored;
use crate::domain::{ConnectionId, FamilyId, SessionId, SimId, UserId};
use crate::error::ControlError;
use crate::hosts::BoxFuture;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use deadpool_postgres::Pool;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};
use tradesim_aws::{RetryPolicy, call};

/// The global secondary index listing a sign-in's connections.
pub const FAMILY_INDEX: &str = "by_family";
/// The table's TTL attribute.
pub const EXPIRES_AT: &str = "expires_at";
/// API Gateway closes every WebSocket connection after two hours at most, so a record older than that is stale.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// A DynamoDB table name: 3 to 255 characters of `A-Z a-z 0-9 _ - .`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName(String);

impl TableName {
    pub fn parse(name: &str) -> Result<Self, ControlError> {
        let ok = (3..=255).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !ok {
            return Err(ControlError::InvalidInput(format!(
                "{name:?} is not a DynamoDB table name: 3 to 255 characters of A-Z a-z 0-9 _ - ."
            )));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The registry in a DynamoDB table, audited in PostgreSQL.
#[derive(Clone)]
pub struct DynamoConnections {
    client: aws_sdk_dynamodb::Client,
    table: TableName,
    audit: Pool,
    retry: RetryPolicy,
}

impl fmt::Debug for DynamoConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoConnections").field("table", &self.table).finish_non_exhaustive()
    }
}

impl DynamoConnections {
    /// `shared` is the SDK configuration (credentials, region, endpoint); the client retries through `retry`
    /// only, not through the SDK's own retries too.
    pub fn new(shared: &aws_config::SdkConfig, table: TableName, audit: Pool, retry: RetryPolicy) -> Self {
        let config = aws_sdk_dynamodb::config::Builder::from(shared)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self { client: aws_sdk_dynamodb::Client::from_conf(config), table, audit, retry }
    }

    fn key(id: &ConnectionId) -> HashMap<String, AttributeValue> {
        HashMap::from([("id".to_owned(), AttributeValue::S(id.as_str().to_owned()))])
    }

    async fn audit(&self, at: SystemTime, event: AuditEvent) -> Result<(), ControlError> {
        audit::record(&self.audit.get().await?, at, &event).await
    }
}

fn micros(at: SystemTime) -> u128 {
    at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_micros()
}

fn to_item(connection: &Connection) -> HashMap<String, AttributeValue> {
    let text = |value: &str| AttributeValue::S(value.to_owned());
    let expires = (connection.connected_at + CONNECTION_LIFETIME)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    HashMap::from([
        ("id".to_owned(), text(connection.id.as_str())),
        ("user".to_owned(), text(connection.user.as_str())),
        ("session".to_owned(), text(connection.session.as_str())),
        ("sim".to_owned(), text(connection.sim.as_str())),
        ("family".to_owned(), text(connection.family.as_str())),
        ("connected_at".to_owned(), AttributeValue::N(micros(connection.connected_at).to_string())),
        (EXPIRES_AT.to_owned(), AttributeValue::N(expires.to_string())),
    ])
}

/// The connection an item holds, unless its TTL has passed: DynamoDB deletes expired items only eventually (within
/// days), so reads skip them.
fn from_item(item: &HashMap<String, AttributeValue>, now: SystemTime) -> Result<Option<Connection>, ControlError> {
    let attribute = |name: &str| {
        item.get(name).ok_or_else(|| ControlError::Internal(format!("a DynamoDB connection record lacks {name}")))
    };
    let text = |name: &str| stored(attribute(name)?.as_s().map(String::as_str).map_err(|_| format!("{name} is not S")));
    let number = |name: &str| -> Result<u64, ControlError> {
        let value = stored(attribute(name)?.as_n().map_err(|_| format!("{name} is not N")))?;
        stored(value.parse::<u64>().map_err(|e| format!("{name}: {e}")))
    };
    let expires = SystemTime::UNIX_EPOCH + Duration::from_secs(number(EXPIRES_AT)?);
    if expires <= now {
        return Ok(None);
    }
    Ok(Some(Connection {
        id: stored(ConnectionId::parse(text("id")?))?,
        user: stored(UserId::parse(text("user")?))?,
        session: stored(SessionId::parse(text("session")?))?,
        sim: stored(SimId::parse(text("sim")?))?,
        family: stored(FamilyId::parse(text("family")?))?,
        connected_at: SystemTime::UNIX_EPOCH + Duration::from_micros(number("connected_at")?),
    }))
}

impl ConnectionRegistry for DynamoConnections {
    fn register<'a>(&'a self, connection: &'a Connection) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            let request = self.client.put_item().table_name(self.table.as_str()).set_item(Some(to_item(connection)));
            call(&self.retry, "DynamoDB PutItem", || request.clone().send()).await?;
            let event = connection.opened();
            self.audit(connection.connected_at, event).await
        })
    }

    fn unregister<'a>(
        &'a self,
        id: &'a ConnectionId,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<Connection>, ControlError>> {
        Box::pin(async move {
            let request = self
                .client
                .delete_item()
                .table_name(self.table.as_str())
                .set_key(Some(Self::key(id)))
                .return_values(ReturnValue::AllOld);
            let deleted = call(&self.retry, "DynamoDB DeleteItem", || request.clone().send()).await?;
            let connection = deleted.attributes.as_ref().map(|item| from_item(item, now)).transpose()?.flatten();
            if let Some(c) = &connection {
                let event = c.closed();
                self.audit(now, event).await?;
            }
            Ok(connection)
        })
    }

    fn by_family<'a>(&'a self, family: &'a FamilyId) -> BoxFuture<'a, Result<Vec<Connection>, ControlError>> {
        Box::pin(async move {
            let now = SystemTime::now();
            let query = self
                .client
                .query()
                .table_name(self.table.as_str())
                .index_name(FAMILY_INDEX)
                .key_condition_expression("#family = :family")
                .expression_attribute_names("#family", "family")
                .expression_attribute_values(":family", AttributeValue::S(family.as_str().to_owned()));
            let mut connections = Vec::new();
            let mut start = None;
            loop {
                let page = query.clone().set_exclusive_start_key(start);
                let answer = call(&self.retry, "DynamoDB Query", || page.clone().send()).await?;
                for item in answer.items() {
                    connections.extend(from_item(item, now)?);
                }
                start = answer.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
            connections.sort_by(|a, b| (a.connected_at, a.id.as_str()).cmp(&(b.connected_at, b.id.as_str())));
            Ok(connections)
        })
    }

    fn get<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<Option<Connection>, ControlError>> {
        Box::pin(async move {
            let request = self
                .client
                .get_item()
                .table_name(self.table.as_str())
                .set_key(Some(Self::key(id)))
                .consistent_read(true);
            let answer = call(&self.retry, "DynamoDB GetItem", || request.clone().send()).await?;
            Ok(answer.item.as_ref().map(|item| from_item(item, SystemTime::now())).transpose()?.flatten())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::contract::{self, connection};
    use crate::db;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, TimeToLiveSpecification,
    };
    use tradesim_aws::moto::Moto;
    use tradesim_journal::testing::TestDatabase;

    const TABLE: &str = "tradesim-connections";

    fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
        AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().unwrap()
    }

    fn key(name: &str, kind: KeyType) -> KeySchemaElement {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap()
    }

    /// The table as infra/ declares it: id, the family index, TTL on `expires_at`.
    async fn create_table(client: &aws_sdk_dynamodb::Client) {
        let index = GlobalSecondaryIndex::builder()
            .index_name(FAMILY_INDEX)
            .key_schema(key("family", KeyType::Hash))
            .key_schema(key("connected_at", KeyType::Range))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .unwrap();
        client
            .create_table()
            .table_name(TABLE)
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .attribute_definitions(attribute("id", ScalarAttributeType::S))
            .attribute_definitions(attribute("family", ScalarAttributeType::S))
            .attribute_definitions(attribute("connected_at", ScalarAttributeType::N))
            .key_schema(key("id", KeyType::Hash))
            .global_secondary_indexes(index)
            .send()
            .await
            .unwrap();
        let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name(EXPIRES_AT).build().unwrap();
        client.update_time_to_live().table_name(TABLE).time_to_live_specification(ttl).send().await.unwrap();
    }

    #[tokio::test]
    async fn connections_are_kept_in_dynamodb_with_their_ttl_and_audited() {
        let moto = Moto::start();
        let shared = moto.sdk_config().await;
        let client = aws_sdk_dynamodb::Client::new(&shared);
        create_table(&client).await;
        let database = TestDatabase::create().await;
        let pool = db::pool(database.url(), 2).unwrap();
        let registry =
            DynamoConnections::new(&shared, TableName::parse(TABLE).unwrap(), pool.clone(), RetryPolicy::default());
        // Now, to whole microseconds: records expire two hours after they connected.
        let now = SystemTime::UNIX_EPOCH + Duration::from_micros(u64::try_from(micros(SystemTime::now())).unwrap());
        contract::keeps_connections(&registry, &pool, now).await;

        let kept = connection("con_kept", "fam_1", now);
        registry.register(&kept).await.unwrap();
        let stored = client.get_item().table_name(TABLE).set_key(Some(DynamoConnections::key(&kept.id))).send().await;
        let expires = stored.unwrap().item.unwrap()[EXPIRES_AT].as_n().unwrap().parse::<u64>().unwrap();
        let connected = now.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(expires, connected + CONNECTION_LIFETIME.as_secs(), "the TTL attribute");
        let ttl = client.describe_time_to_live().table_name(TABLE).send().await.unwrap();
        assert_eq!(ttl.time_to_live_description.unwrap().attribute_name(), Some(EXPIRES_AT));
    }

    #[tokio::test]
    async fn a_record_past_its_ttl_is_not_read_back() {
        let moto = Moto::start();
        let shared = moto.sdk_config().await;
        create_table(&aws_sdk_dynamodb::Client::new(&shared)).await;
        let database = TestDatabase::create().await;
        let pool = db::pool(database.url(), 2).unwrap();
        let registry = DynamoConnections::new(&shared, TableName::parse(TABLE).unwrap(), pool, RetryPolicy::default());
        let stale = connection("con_old", "fam_1", SystemTime::now() - CONNECTION_LIFETIME - Duration::from_secs(1));
        registry.register(&stale).await.unwrap();
        assert_eq!(registry.get(&stale.id).await.unwrap(), None);
        assert_eq!(registry.by_family(&stale.family).await.unwrap(), []);
    }

    #[tokio::test]
    async fn a_missing_table_is_a_refusal_that_names_the_call() {
        let moto = Moto::start();
        let shared = moto.sdk_config().await;
        let database = TestDatabase::create().await;
        let pool = db::pool(database.url(), 2).unwrap();
        let registry =
            DynamoConnections::new(&shared, TableName::parse("absent").unwrap(), pool, RetryPolicy::default());
        let error = registry.get(&ConnectionId::parse("con_a").unwrap()).await.unwrap_err();
        let ControlError::Internal(detail) = error else { panic!("{error:?}") };
        assert!(detail.starts_with("DynamoDB GetItem was refused: ResourceNotFoundException"), "{detail}");
    }

    #[test]
    fn table_names_are_checked() {
        assert!(TableName::parse("tradesim-connections.v1").is_ok());
        for bad in ["ab", "has space", &"x".repeat(256)] {
            assert_eq!(TableName::parse(bad).unwrap_err().code(), "invalid_input", "{bad}");
        }
    }
}
