//! The HTTP API: an axum [`Router`] over [`Control`], JSON in and out. The route table below builds both the router
//! and the OpenAPI document served at `/v1/openapi.json`, so the two cannot drift. Lambda (lambda_http) and the
//! local gateway serve this same router.

use crate::control::{
    Control, Credentials, RefreshRequest, Session, SessionList, Simulator, SimulatorList, SimulatorStatus,
    StartSimulator, Ticket, TicketRequest, Tokens, User,
};
use crate::domain::{SessionId, parse_sim_id};
use crate::error::{ControlError, ErrorBody};
use crate::tokens::AccessClaims;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, get, on};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

/// Request bodies above this are refused; the largest legitimate one is a simulator config.
pub const BODY_LIMIT: usize = 64 * 1024;

type AppState = Arc<Control>;

/// The verified claims of the caller's access token.
#[derive(Debug)]
pub struct Auth(pub AccessClaims);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ControlError;

    async fn from_request_parts(parts: &mut Parts, control: &AppState) -> Result<Self, ControlError> {
        let BearerToken(token) = BearerToken::from_request_parts(parts, control).await?;
        Ok(Self(control.authenticate(&token).await?))
    }
}

/// The caller's access token, not yet verified: for the calls that authenticate it themselves.
#[derive(Debug)]
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ControlError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ControlError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(ControlError::Unauthenticated)?;
        Ok(Self(token.trim().to_owned()))
    }
}

/// The caller's IP address when the server knows it (`ConnectInfo`), for rate limiting; "unknown" otherwise. Behind
/// API Gateway the adapter must insert `ConnectInfo` from the request context's source IP, or every anonymous caller
/// shares one refresh bucket.
#[derive(Debug)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let address = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string());
        Ok(Self(address.unwrap_or_else(|| "unknown".to_owned())))
    }
}

/// A JSON body whose rejections are answered with the control plane's codes.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ControlError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ControlError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ControlError::InvalidBody(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ControlError::MalformedJson(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ControlError::UnsupportedMediaType),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ControlError::PayloadTooLarge(BODY_LIMIT)),
            Err(e) => Err(ControlError::InvalidBody(e.body_text())),
        }
    }
}

type Answer<T> = Result<T, ControlError>;

async fn register(State(control): State<AppState>, JsonBody(body): JsonBody<Credentials>) -> Answer<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(control.register(&body).await?)))
}

async fn login(
    State(control): State<AppState>,
    ClientAddr(client): ClientAddr,
    JsonBody(body): JsonBody<Credentials>,
) -> Answer<Json<Tokens>> {
    Ok(Json(control.login(&body, &client).await?))
}

async fn refresh(
    State(control): State<AppState>,
    ClientAddr(client): ClientAddr,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Answer<Json<Tokens>> {
    Ok(Json(control.refresh(&body, &client).await?))
}

async fn logout(State(control): State<AppState>, Auth(claims): Auth) -> Answer<StatusCode> {
    control.logout(&claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_session(State(control): State<AppState>, Auth(claims): Auth) -> Answer<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(control.create_session(&claims).await?)))
}

async fn list_sessions(State(control): State<AppState>, Auth(claims): Auth) -> Answer<Json<SessionList>> {
    Ok(Json(control.list_sessions(&claims).await?))
}

async fn keep_alive(
    State(control): State<AppState>,
    BearerToken(token): BearerToken,
    Path(id): Path<String>,
) -> Answer<Json<Session>> {
    Ok(Json(control.keep_alive(&token, &id).await?))
}

async fn end_session(
    State(control): State<AppState>,
    Auth(claims): Auth,
    Path(id): Path<String>,
) -> Answer<Json<Session>> {
    Ok(Json(control.end_session(&claims, &SessionId::parse(id)?).await?))
}

async fn start_simulator(
    State(control): State<AppState>,
    Auth(claims): Auth,
    JsonBody(body): JsonBody<StartSimulator>,
) -> Answer<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(control.start_simulator(&claims, body).await?)))
}

async fn list_simulators(State(control): State<AppState>, Auth(claims): Auth) -> Answer<Json<SimulatorList>> {
    Ok(Json(control.list_simulators(&claims).await?))
}

async fn simulator_status(
    State(control): State<AppState>,
    Auth(claims): Auth,
    Path(id): Path<String>,
) -> Answer<Json<SimulatorStatus>> {
    Ok(Json(control.simulator_status(&claims, &parse_sim_id(&id)?).await?))
}

async fn stop_simulator(
    State(control): State<AppState>,
    Auth(claims): Auth,
    Path(id): Path<String>,
) -> Answer<Json<Simulator>> {
    Ok(Json(control.stop_simulator(&claims, &parse_sim_id(&id)?).await?))
}

async fn issue_ticket(
    State(control): State<AppState>,
    Auth(claims): Auth,
    JsonBody(body): JsonBody<TicketRequest>,
) -> Answer<Json<Ticket>> {
    Ok(Json(control.issue_ticket(&claims, &body).await?))
}

// ---- the route table ----

type Schemas = Vec<(String, RefOr<Schema>)>;
/// Adds a type's schema (and those it refers to) to the components and answers its name.
type SchemaOf = fn(&mut Schemas) -> String;

fn schema<T: ToSchema>(schemas: &mut Schemas) -> String {
    let name = T::name().into_owned();
    schemas.push((name.clone(), T::schema()));
    T::schemas(schemas);
    name
}

#[derive(Clone, Copy, Debug)]
enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
            Self::Delete => MethodFilter::DELETE,
        }
    }

    /// The key of the operation in an OpenAPI path item.
    fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Delete => "delete",
        }
    }
}

/// What the OpenAPI document says of a route.
struct Doc {
    summary: &'static str,
    authenticated: bool,
    request: Option<SchemaOf>,
    status: StatusCode,
    response: Option<SchemaOf>,
}

fn doc(summary: &'static str, status: StatusCode) -> Doc {
    Doc { summary, authenticated: true, request: None, status, response: None }
}

impl Doc {
    fn public(self) -> Self {
        Self { authenticated: false, ..self }
    }
    fn takes(self, request: SchemaOf) -> Self {
        Self { request: Some(request), ..self }
    }
    fn gives(self, response: SchemaOf) -> Self {
        Self { response: Some(response), ..self }
    }
}

struct Route {
    verb: Verb,
    path: &'static str,
    doc: Doc,
    handler: MethodRouter<AppState>,
}

fn route<H: Handler<T, AppState>, T: 'static>(verb: Verb, path: &'static str, doc: Doc, handler: H) -> Route {
    Route { verb, path, doc, handler: on(verb.filter(), handler) }
}

fn routes() -> Vec<Route> {
    use StatusCode as S;
    use Verb::{Delete, Get, Post};
    vec![
        route(
            Post,
            "/v1/auth/register",
            doc("Create a user", S::CREATED).public().takes(schema::<Credentials>).gives(schema::<User>),
            register,
        ),
        route(
            Post,
            "/v1/auth/login",
            doc("Log in: a new sign-in with an access and a refresh token", S::OK)
                .public()
                .takes(schema::<Credentials>)
                .gives(schema::<Tokens>),
            login,
        ),
        route(
            Post,
            "/v1/auth/refresh",
            doc("Exchange a refresh token (single use) for a new pair", S::OK)
                .public()
                .takes(schema::<RefreshRequest>)
                .gives(schema::<Tokens>),
            refresh,
        ),
        route(Post, "/v1/auth/logout", doc("Revoke this sign-in and end its sessions", S::NO_CONTENT), logout),
        route(Post, "/v1/sessions", doc("Start a session", S::CREATED).gives(schema::<Session>), create_session),
        route(Get, "/v1/sessions", doc("List your sessions", S::OK).gives(schema::<SessionList>), list_sessions),
        route(
            Post,
            "/v1/sessions/{id}/keep-alive",
            doc("Extend a session's idle deadline", S::OK).gives(schema::<Session>),
            keep_alive,
        ),
        route(Delete, "/v1/sessions/{id}", doc("End a session", S::OK).gives(schema::<Session>), end_session),
        route(
            Post,
            "/v1/simulators",
            doc("Start a simulator in a session", S::CREATED)
                .takes(schema::<StartSimulator>)
                .gives(schema::<Simulator>),
            start_simulator,
        ),
        route(
            Get,
            "/v1/simulators",
            doc("List your simulators", S::OK).gives(schema::<SimulatorList>),
            list_simulators,
        ),
        route(
            Get,
            "/v1/simulators/{id}",
            doc("A simulator and what its host reports", S::OK).gives(schema::<SimulatorStatus>),
            simulator_status,
        ),
        route(
            Delete,
            "/v1/simulators/{id}",
            doc("Stop a simulator for good", S::OK).gives(schema::<Simulator>),
            stop_simulator,
        ),
        route(
            Post,
            "/v1/tickets",
            doc("A single-use connect ticket (30 s) for a simulator's stream", S::OK)
                .takes(schema::<TicketRequest>)
                .gives(schema::<Ticket>),
            issue_ticket,
        ),
    ]
}

fn json_content(name: &str) -> Value {
    json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}") } } })
}

fn openapi(routes: &[Route]) -> Value {
    let mut schemas = Schemas::new();
    let error = schema::<ErrorBody>(&mut schemas);
    let mut paths = Map::new();
    for Route { verb, path, doc, .. } in routes {
        let mut responses = Map::new();
        let mut success = json!({ "description": doc.status.canonical_reason().unwrap_or("success") });
        if let Some(response) = doc.response {
            success["content"] = json_content(&response(&mut schemas));
        }
        responses.insert(doc.status.as_u16().to_string(), success);
        responses.insert("default".into(), json!({ "description": "error", "content": json_content(&error) }));
        let mut operation = json!({ "summary": doc.summary, "responses": responses });
        if let Some(request) = doc.request {
            operation["requestBody"] = json!({ "required": true, "content": json_content(&request(&mut schemas)) });
        }
        if doc.authenticated {
            operation["security"] = json!([{ "bearer": [] }]);
        }
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        paths.entry(*path).or_insert_with(|| json!({}))[verb.name()] = operation;
    }
    let components: Map<String, Value> =
        schemas.into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null))).collect();
    json!({
        "openapi": "3.1.0",
        "info": { "title": "tradesim control plane", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
        },
    })
}

/// The control plane's HTTP API.
pub fn router(control: Arc<Control>) -> Router {
    let routes = routes();
    let document = Arc::new(openapi(&routes));
    let router = routes.into_iter().fold(Router::new(), |router, route| router.route(route.path, route.handler));
    router
        .route("/v1/openapi.json", get(move || async move { Json(Value::clone(&document)) }))
        .fallback(|| async { ControlError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ControlError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(control)
}
