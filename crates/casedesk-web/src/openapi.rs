//! The OpenAPI document, generated from the handlers' annotations.

use serde_json::{Value, json};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{
    attachments, audit, cases, diagnostics, dto, identities, jobs, kb, mail, meta, sla, solutions,
    status, support, tokens, trust, webhooks,
};
use crate::error::{FieldProblem, Problem};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "casedesk", description = "Support cases for customers of an identity platform."),
    paths(
        meta::healthz, meta::readyz, meta::me, meta::intake,
        cases::create_case, cases::list_cases, cases::get_case, cases::list_events,
        cases::reply, cases::note, cases::request_info, cases::hold, cases::resume,
        cases::propose_resolution, cases::confirm_resolution, cases::escalate, cases::assign,
        cases::change_priority, cases::add_contact, cases::remove_contact, cases::summary,
        tokens::list, tokens::create, tokens::revoke,
        identities::list, identities::link, identities::unlink,
        jobs::list, jobs::get, jobs::retry, jobs::cancel,
        sla::due, sla::between, sla::calendars, sla::calendar, sla::put_calendar, sla::policies, sla::put_policy, sla::get_settings, sla::put_settings, cases::get_sla, cases::explain_sla,
        webhooks::list, webhooks::create, webhooks::get, webhooks::update, webhooks::delete, webhooks::rotate,
        webhooks::deliveries, webhooks::delivery, webhooks::redeliver, webhooks::notices,
        audit::export,
        mail::ingest, mail::list, mail::release, mail::discard, mail::case_mail, mail::original, mail::get_intake, mail::put_intake,
        kb::list, kb::get, kb::put, kb::versions,
        solutions::suggest, solutions::deflect, solutions::report, diagnostics::redirect_uri,
        status::page, status::incident, status::open, status::update, status::incident_cases, status::active,
        status::link, status::case_incidents, status::unlink, status::subscribe, status::subscription, status::unsubscribe,
        attachments::upload, attachments::list, attachments::download, diagnostics::jwt,
        cases::change_contact, support::routes_page, support::checks, support::accounts, support::update_account,
        support::case_grants, support::grant, support::revoke, support::active,
        support::rate, support::rating, support::report,
        trust::publish, trust::list, trust::content, trust::nda, trust::accept,
    ),
    components(schemas(Problem, FieldProblem, dto::CaseInput, dto::CaseDto, dto::CaseList, dto::CaseSummaryDto,
        dto::EventList, dto::EventDto, dto::MeDto,
        tokens::TokenDto, tokens::NewTokenDto, tokens::TokenList, tokens::TokenInput,
        identities::IdentityDto, identities::IdentityList, identities::LinkInput)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

/// `GET /openapi.json`: the document, completed once per process.
pub async fn document() -> axum::response::Response {
    use axum::response::IntoResponse;
    // Serialised once: the document is 200 KB, and building it per request cost 11 ms of CPU
    // that any anonymous client could ask for again and again.
    static DOC: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    let body = DOC
        .get_or_init(|| serde_json::to_vec(&spec()).unwrap_or_default().into())
        .clone();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The API description: utoipa's document from the handlers' annotations, completed with
/// what every operation shares (the error answers, parameters in their place, unique
/// operation ids, a description on every response) and the routes annotations cannot say
/// (`/metrics`, the multipart form of `POST /api/v1/cases`).
pub fn spec() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    complete(&mut doc);
    doc
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The shapes of the answers and bodies that handlers build as JSON values (utoipa cannot see
/// them): written from a capture of every operation against a running server (see
/// `scripts/openapi-shapes/`) and held to the server by the conformance checks in the tests.
const SHAPES: &str = include_str!("openapi_shapes.json");

/// Whether a schema says no more than "some object".
fn says_nothing(schema: Option<&Value>) -> bool {
    schema.is_none_or(|s| s == &json!({"type": "object"}) || s == &json!({}))
}

/// Fills in the captured shapes where the annotations left a response or a body untyped.
fn shapes(paths: &mut serde_json::Map<String, Value>) {
    let Ok(shapes) = serde_json::from_str::<Value>(SHAPES) else {
        return;
    };
    let empty = serde_json::Map::new();
    let answers = shapes["answers"].as_object().unwrap_or(&empty);
    for (key, schema) in answers {
        let mut it = key.split(' ');
        let (Some(m), Some(path), Some(status)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let Some(op) = paths.get_mut(path).and_then(|i| i.get_mut(m)) else {
            continue;
        };
        let r = &mut op["responses"][status];
        if r.get("description").is_none() {
            r["description"] = json!(reason(status));
        }
        if says_nothing(r.pointer("/content/application~1json/schema")) {
            r["content"] = json!({"application/json": {"schema": schema}});
        }
    }
    let requests = shapes["requests"].as_object().unwrap_or(&empty);
    for (key, schema) in requests {
        let Some((m, path)) = key.split_once(' ') else {
            continue;
        };
        let Some(op) = paths.get_mut(path).and_then(|i| i.get_mut(m)) else {
            continue;
        };
        let current = op.pointer("/requestBody/content/application~1json/schema");
        if op.get("requestBody").is_none() || says_nothing(current) {
            op["requestBody"] =
                json!({"required": false, "content": {"application/json": {"schema": schema}}});
        }
    }
}

fn problem_answer(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

/// Words for a status that an annotation left without a description.
fn reason(status: &str) -> &'static str {
    match status {
        "200" => "Done",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "Done; no content",
        "400" => "The request could not be read (a malformed body or query)",
        "401" => "No credential, or one that was refused",
        "403" => "The caller may not do this",
        "404" => "Nothing here that the caller can see",
        "405" => "The route does not take this method",
        "408" => "The body arrived too slowly",
        "409" => "In conflict with the resource's current state",
        "410" => "Deleted",
        "413" => "The body is too large",
        "415" => "The body is of a kind the route does not take",
        "422" => "Some fields are missing or invalid; each one is named",
        "429" => "A request budget is spent; Retry-After says when to retry",
        "500" => "Something went wrong on casedesk's side",
        "503" => "A service casedesk depends on is unavailable",
        _ => "An answer",
    }
}

fn complete(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let mut seen_ids = std::collections::HashMap::<String, usize>::new();
    for (_, item) in paths.iter() {
        for m in METHODS {
            if let Some(id) = item
                .get(m)
                .and_then(|o| o.get("operationId"))
                .and_then(Value::as_str)
            {
                *seen_ids.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    for (path, item) in paths.iter_mut() {
        let template: Vec<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        for m in METHODS {
            let Some(op) = item.get_mut(m).and_then(Value::as_object_mut) else {
                continue;
            };
            // Unique operation ids, so a generated client has one method per operation.
            let tag = op
                .get("tags")
                .and_then(|t| t.get(0))
                .and_then(Value::as_str)
                .unwrap_or("api")
                .replace('-', "_");
            if let Some(id) = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
                && seen_ids.get(&id).copied().unwrap_or(0) > 1
            {
                op.insert("operationId".into(), json!(format!("{tag}_{id}")));
            }
            // Parameters: a name that is not in the path template is a query parameter.
            let mut params: Vec<Value> = op
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for p in params.iter_mut() {
                let name = p
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if p.get("in").and_then(Value::as_str) == Some("path") && !template.contains(&name)
                {
                    p["in"] = json!("query");
                    p["required"] = json!(false);
                }
            }
            for name in &template {
                let declared = params.iter().any(|p| {
                    p.get("in").and_then(Value::as_str) == Some("path")
                        && p.get("name").and_then(Value::as_str) == Some(name)
                });
                if !declared {
                    params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
                }
            }
            if !params.is_empty() {
                op.insert("parameters".into(), Value::Array(params));
            }
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    s.iter()
                        .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
                });
            let has_body = op.contains_key("requestBody");
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            let Some(responses) = responses.as_object_mut() else {
                continue;
            };
            for (status, r) in responses.iter_mut() {
                let Some(r) = r.as_object_mut() else { continue };
                if !r.contains_key("description") {
                    r.insert("description".into(), json!(reason(status)));
                }
                // Every error is a problem document.
                if status.starts_with('4') || status.starts_with('5') {
                    let d = r
                        .get("description")
                        .cloned()
                        .unwrap_or_else(|| json!(reason(status)));
                    *r = problem_answer(d.as_str().unwrap_or_default())
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                }
            }
            let mut shared = vec!["400", "429", "500"];
            if secured {
                shared.push("401");
            }
            if has_body {
                shared.extend(["408", "413", "415"]);
            }
            for s in shared {
                responses
                    .entry(s)
                    .or_insert_with(|| problem_answer(reason(s)));
            }
            responses
                .entry("default")
                .or_insert_with(|| problem_answer("Any other error, as a problem document"));
        }
    }
    shapes(paths);
    // `/metrics`: Prometheus text, behind the scraper's token when one is configured.
    paths.insert(
        "/metrics".into(),
        json!({"get": {
            "tags": ["meta"],
            "operationId": "metrics",
            "summary": "Request counts and latencies in the Prometheus text format",
            "description": "Labels come from closed sets: the route template, the method (or `other`) and the status class. Needs `metrics.token` as a bearer credential when one is configured; served on `metrics.listen` instead when that is set.",
            "security": [{}, {"bearer": []}],
            "responses": {
                "200": {"description": "The metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "401": problem_answer(reason("401")),
                "404": problem_answer("Served on a separate address (metrics.listen)"),
                "default": problem_answer("Any other error, as a problem document")
            }
        }}),
    );
    // `POST /api/v1/cases` also takes the case with its files in one multipart form.
    if let Some(body) = doc
        .pointer_mut("/paths/~1api~1v1~1cases/post/requestBody/content")
        .and_then(Value::as_object_mut)
    {
        body.insert(
            "multipart/form-data".into(),
            json!({"schema": {
                "type": "object",
                "required": ["case"],
                "properties": {
                    "case": {"type": "string", "description": "The case as JSON (the same object as the JSON body)", "contentMediaType": "application/json"},
                    "file": {"type": "array", "items": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}, "description": "Files to attach, at most 10; a .har capture is scrubbed before it is stored"}
                }
            }}),
        );
    }
    if let Some(body) = doc
        .pointer_mut("/paths/~1api~1v1~1cases~1{number}~1attachments/post/requestBody/content/multipart~1form-data")
        .and_then(Value::as_object_mut)
    {
        body.insert(
            "schema".into(),
            json!({
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "array", "items": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}, "description": "One part per file, at most 10"}
                }
            }),
        );
    }
    let stored_file = json!({
        "type": "object",
        "required": ["id", "file_name", "content_type", "size", "sha256", "url"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "file_name": {"type": "string"},
            "content_type": {"type": "string", "description": "Read from the file's bytes, not from what the client said"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "kind": {"type": "string"},
            "public": {"type": "boolean"},
            "url": {"type": "string", "description": "Where to download it"},
            "secrets_removed": {"description": "What was scrubbed from it, when anything was"},
            "evidence": {"description": "For support: what a HAR capture shows"}
        }
    });
    if let Some(created) =
        doc.pointer_mut("/paths/~1api~1v1~1cases~1{number}~1attachments/post/responses/201")
    {
        created["content"] = json!({"application/json": {"schema": {
            "type": "object",
            "required": ["case", "attachments"],
            "properties": {"case": {"type": "integer"}, "attachments": {"type": "array", "items": stored_file}}
        }}});
    }
    if let Some(ok) =
        doc.pointer_mut("/paths/~1api~1v1~1cases~1{number}~1attachments~1{id}/get/responses/200")
    {
        ok["description"] = json!(
            "The file as stored (a HAR capture scrubbed); Content-Type is the type read from its bytes"
        );
        // Any type, as stored: a JSON file is served as JSON, so no one schema holds.
        ok["content"] = json!({"*/*": {}});
    }
    if let Some(ok) =
        doc.pointer_mut("/paths/~1api~1v1~1audit/get/responses/200/content/application~1x-ndjson")
    {
        ok["schema"] = json!({"type": "string", "description": "One JSON audit entry per line, oldest first, each with the hash of the one before"});
    }
    // The mail gate takes the message's bytes; most MTAs pipe them as they are.
    if let Some(body) = doc
        .pointer_mut("/paths/~1api~1v1~1inbound~1email/post/requestBody/content")
        .and_then(Value::as_object_mut)
    {
        body.insert(
            "application/octet-stream".into(),
            json!({"schema": {"type": "string", "format": "binary"}}),
        );
    }
}
