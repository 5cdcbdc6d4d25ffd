//! Service status: regions and components, incidents with their timestamped updates, who is
//! told of them (email and webhook subscriptions, as jobs), and the cases linked to an
//! incident (told when it is resolved).
//!
//! A component's state in a region is not set by hand: it is the worst impact among the
//! open incidents naming that component and region, so the status page and the incidents
//! can never disagree.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::Region;
use crate::audit::AuditRecord;
use crate::cases::{CaseStore, EventKind, NewEvent};
use crate::directory::DirectoryStore;
use crate::jobs::NewJob;
use crate::permissions::is_support;
use crate::users::{Principal, Role, Scope};
use crate::{DomainError, FieldError, Result, Timestamp};

/// The job that tells subscribers of an incident's new update.
pub const NOTIFY: &str = "status.notify";
/// The job that posts a resolved incident's last update to its linked cases.
pub const RESOLVE: &str = "status.resolve";
/// Webhook event types of status (an endpoint receives them only when it names them).
pub const EVENT_TYPES: [&str; 3] = [
    "status.incident.created",
    "status.incident.updated",
    "status.incident.resolved",
];

/// The state of a component in a region, and the impact of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    /// Working normally.
    Operational,
    /// Planned work.
    Maintenance,
    /// Slower or erroring now and then.
    Degraded,
    /// Failing for some.
    PartialOutage,
    /// Failing for everyone.
    MajorOutage,
}

impl ComponentState {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            ComponentState::Operational => "operational",
            ComponentState::Maintenance => "maintenance",
            ComponentState::Degraded => "degraded",
            ComponentState::PartialOutage => "partial_outage",
            ComponentState::MajorOutage => "major_outage",
        }
    }

    /// From its key.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ComponentState::Operational,
            ComponentState::Maintenance,
            ComponentState::Degraded,
            ComponentState::PartialOutage,
            ComponentState::MajorOutage,
        ]
        .into_iter()
        .find(|k| k.key() == s)
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Looking for the cause.
    Investigating,
    /// The cause is known; a fix is under way.
    Identified,
    /// Fixed; watching that it holds.
    Monitoring,
    /// Over.
    Resolved,
}

impl IncidentState {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            IncidentState::Investigating => "investigating",
            IncidentState::Identified => "identified",
            IncidentState::Monitoring => "monitoring",
            IncidentState::Resolved => "resolved",
        }
    }

    /// From its key.
    pub fn parse(s: &str) -> Option<Self> {
        [
            IncidentState::Investigating,
            IncidentState::Identified,
            IncidentState::Monitoring,
            IncidentState::Resolved,
        ]
        .into_iter()
        .find(|k| k.key() == s)
    }
}

/// A part of the platform shown on the status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// Stable key.
    pub key: String,
    /// Shown name.
    pub name: String,
    /// The issue areas a customer would file a problem with it under (to offer a new case
    /// the link to a matching incident).
    #[serde(default)]
    pub issue_areas: Vec<String>,
}

/// The regions and components of the status page (the `[status]` settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusConfig {
    /// Regions shown (keys of tenant regions).
    #[serde(default = "default_regions")]
    pub regions: Vec<String>,
    /// Components shown in every region.
    #[serde(default = "default_components")]
    pub components: Vec<Component>,
}

fn default_regions() -> Vec<String> {
    [Region::Americas, Region::Eu, Region::Apac]
        .iter()
        .map(|r| r.key().to_owned())
        .collect()
}

fn default_components() -> Vec<Component> {
    let c = |key: &str, name: &str, areas: &[&str]| Component {
        key: key.into(),
        name: name.into(),
        issue_areas: areas.iter().map(|a| (*a).to_owned()).collect(),
    };
    vec![
        c(
            "sign-in",
            "Sign-in and hosted login",
            &["sign-in-and-redirects"],
        ),
        c(
            "token-service",
            "Token service and JWKS",
            &["tokens-and-jwks", "applications-and-clients"],
        ),
        c(
            "admin-console",
            "Admin console and management API",
            &["applications-and-clients", "scim-and-provisioning"],
        ),
        c(
            "provisioning",
            "SCIM provisioning",
            &["scim-and-provisioning"],
        ),
        c(
            "federation",
            "Enterprise federation (OIDC and SAML)",
            &["enterprise-identity-providers"],
        ),
        c("webhooks", "Webhook delivery", &["webhooks"]),
        c(
            "marketplace",
            "Marketplace and licensing",
            &["marketplace-and-licensing"],
        ),
    ]
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            regions: default_regions(),
            components: default_components(),
        }
    }
}

impl StatusConfig {
    /// Checks the settings against the tenant regions and the issue areas; errors name the
    /// setting.
    pub fn validate(&self, area_keys: Option<&[String]>) -> std::result::Result<(), String> {
        if self.regions.is_empty() {
            return Err("status.regions: name at least one region".into());
        }
        for r in &self.regions {
            if r.parse::<Region>().is_err() {
                return Err(format!(
                    "status.regions: {r} is not a region (americas, eu, apac)"
                ));
            }
        }
        if self.components.is_empty() {
            return Err("status.components: name at least one component".into());
        }
        let mut seen = Vec::new();
        for c in &self.components {
            if c.key.is_empty()
                || !c
                    .key
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
            {
                return Err(format!(
                    "status.components: key {:?} must be lowercase letters, digits and dashes",
                    c.key
                ));
            }
            if seen.contains(&&c.key) {
                return Err(format!("status.components: {} is named twice", c.key));
            }
            seen.push(&c.key);
            if let Some(keys) = area_keys
                && let Some(a) = c.issue_areas.iter().find(|a| !keys.contains(a))
            {
                return Err(format!(
                    "status.components.{}: {a} is not an issue area",
                    c.key
                ));
            }
        }
        Ok(())
    }
}

/// One timestamped update of an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentUpdate {
    /// Identifier.
    pub id: Uuid,
    /// When it was posted.
    pub at: Timestamp,
    /// The incident's state from then on.
    pub state: IncidentState,
    /// The impact from then on.
    pub impact: ComponentState,
    /// What is known, in words for customers.
    pub body: String,
}

/// An incident: what is affected, where, and what was said about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Identifier.
    pub id: Uuid,
    /// Short title.
    pub title: String,
    /// Current state.
    pub state: IncidentState,
    /// Current impact on its components.
    pub impact: ComponentState,
    /// Region keys affected.
    pub regions: Vec<String>,
    /// Component keys affected.
    pub components: Vec<String>,
    /// Further issue areas a matching case may be filed under.
    pub issue_areas: Vec<String>,
    /// When it began.
    pub started_at: Timestamp,
    /// When it was resolved.
    pub resolved_at: Option<Timestamp>,
    /// Updates, oldest first.
    pub updates: Vec<IncidentUpdate>,
}

/// Someone told by email of incidents in some regions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subscription {
    /// Identifier.
    pub id: Uuid,
    /// The subscriber.
    pub user_id: Uuid,
    /// Where the messages go (the subscriber's address).
    pub email: String,
    /// Region keys (empty: all).
    pub regions: Vec<String>,
    /// When.
    pub created_at: Timestamp,
}

fn require_manager(p: &Principal) -> Result<()> {
    if p.user.role == Role::Manager {
        crate::permissions::require_scope(p, crate::users::Scope::Admin)
    } else {
        Err(DomainError::Forbidden(
            "Only support managers can open and update incidents.".into(),
        ))
    }
}

fn text(v: &Value, key: &str, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    match v.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
            Some(s.trim().to_owned())
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.push(FieldError::new(key, "must not be empty"));
            None
        }
        Some(Value::String(_)) => {
            errors.push(FieldError::new(
                key,
                format!("must be at most {max} characters"),
            ));
            None
        }
        None | Some(Value::Null) => {
            errors.push(FieldError::new(key, "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(key, "must be a string"));
            None
        }
    }
}

fn keys(v: &Value, key: &str, allowed: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    match v.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for i in items {
                match i.as_str() {
                    Some(s) if allowed.iter().any(|a| a == s) => {
                        if !out.iter().any(|o: &String| o == s) {
                            out.push(s.to_owned());
                        }
                    }
                    _ => {
                        errors.push(FieldError::new(
                            key,
                            format!("must be a list of: {}", allowed.join(", ")),
                        ));
                        return Vec::new();
                    }
                }
            }
            out
        }
        Some(_) => {
            errors.push(FieldError::new(key, "must be a list"));
            Vec::new()
        }
    }
}

fn impact(v: &Value, errors: &mut Vec<FieldError>) -> Option<ComponentState> {
    match v
        .get("impact")
        .and_then(Value::as_str)
        .map(ComponentState::parse)
    {
        Some(Some(ComponentState::Operational)) | Some(None) => {
            errors.push(FieldError::new(
                "impact",
                "must be degraded, partial_outage, major_outage or maintenance",
            ));
            None
        }
        Some(Some(s)) => Some(s),
        None if v.get("impact").is_some_and(|x| !x.is_null()) => {
            errors.push(FieldError::new("impact", "must be a string"));
            None
        }
        None => None,
    }
}

/// Jobs that announce an update: subscribers always; linked cases when it resolves.
fn jobs_for(incident: &Incident, update: &IncidentUpdate, first: bool) -> Vec<NewJob> {
    let payload = json!({"incident": incident.id, "update": update.id, "first": first});
    let mut jobs = vec![NewJob::new(NOTIFY, payload.clone())];
    if update.state == IncidentState::Resolved {
        jobs.push(NewJob::new(RESOLVE, payload));
    }
    jobs
}

/// Opens an incident (managers): `{title, impact, regions, components, issue_areas, body,
/// state}`; its first update is the body.
pub async fn open_incident(
    store: &dyn StatusStore,
    cfg: &StatusConfig,
    p: &Principal,
    v: &Value,
) -> Result<Incident> {
    require_manager(p)?;
    if !v.is_object() {
        return Err(DomainError::field("body", "must be a JSON object"));
    }
    let mut errors = crate::error::unknown_fields(
        v,
        &[
            "title",
            "impact",
            "regions",
            "components",
            "issue_areas",
            "body",
            "state",
        ],
    );
    let title = text(v, "title", 200, &mut errors);
    let body = text(v, "body", 5000, &mut errors);
    let impact = impact(v, &mut errors);
    if v.get("impact").is_none() {
        errors.push(FieldError::new("impact", "is required"));
    }
    let components: Vec<String> = cfg.components.iter().map(|c| c.key.clone()).collect();
    let mut regions = keys(v, "regions", &cfg.regions, &mut errors);
    if regions.is_empty() {
        regions = cfg.regions.clone();
    }
    let comps = keys(v, "components", &components, &mut errors);
    if comps.is_empty() && !errors.iter().any(|e| e.field == "components") {
        errors.push(FieldError::new("components", "name at least one component"));
    }
    let areas: Vec<String> = store
        .issue_areas()
        .await?
        .into_iter()
        .map(|a| a.key)
        .collect();
    let issue_areas = keys(v, "issue_areas", &areas, &mut errors);
    let state = match v.get("state").and_then(Value::as_str) {
        None => IncidentState::Investigating,
        Some(s) => match IncidentState::parse(s) {
            Some(IncidentState::Resolved) | None => {
                errors.push(FieldError::new(
                    "state",
                    "must be investigating, identified or monitoring",
                ));
                IncidentState::Investigating
            }
            Some(st) => st,
        },
    };
    let (Some(title), Some(body), Some(impact)) = (title, body, impact) else {
        return Err(DomainError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    let at = crate::now();
    let update = IncidentUpdate {
        id: Uuid::now_v7(),
        at,
        state,
        impact,
        body,
    };
    let incident = Incident {
        id: Uuid::now_v7(),
        title,
        state,
        impact,
        regions,
        components: comps,
        issue_areas,
        started_at: at,
        resolved_at: None,
        updates: vec![update.clone()],
    };
    let audit = AuditRecord::by(
        p,
        "status.incident.opened",
        format!("incident:{}", incident.id),
    )
    .summary(json!({"title": incident.title, "impact": impact.key()}));
    store
        .create_incident(&incident, &jobs_for(&incident, &update, true), &audit)
        .await?;
    Ok(incident)
}

/// Posts an update (managers): `{body, state, impact}`; `state: resolved` ends the incident
/// and tells its linked cases.
pub async fn update_incident(
    store: &dyn StatusStore,
    p: &Principal,
    id: Uuid,
    v: &Value,
) -> Result<Incident> {
    require_manager(p)?;
    if !v.is_object() {
        return Err(DomainError::field("body", "must be a JSON object"));
    }
    let mut incident = store
        .get_incident(id)
        .await?
        .ok_or(DomainError::NotFound { entity: "incident" })?;
    let mut errors = Vec::new();
    errors.extend(crate::error::unknown_fields(
        v,
        &["body", "state", "impact"],
    ));
    let body = text(v, "body", 5000, &mut errors);
    let new_impact = impact(v, &mut errors);
    let state = match v.get("state").and_then(Value::as_str) {
        None if v.get("state").is_none() => incident.state,
        Some(s) if let Some(st) = IncidentState::parse(s) => st,
        _ => {
            errors.push(FieldError::new(
                "state",
                "must be investigating, identified, monitoring or resolved",
            ));
            incident.state
        }
    };
    let Some(body) = body else {
        return Err(DomainError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    if incident.resolved_at.is_some() {
        return Err(DomainError::Conflict(
            "the incident is resolved; open a new one if the problem is back".into(),
        ));
    }
    let update = IncidentUpdate {
        id: Uuid::now_v7(),
        at: crate::now(),
        state,
        impact: new_impact.unwrap_or(incident.impact),
        body,
    };
    incident.state = update.state;
    incident.impact = update.impact;
    if state == IncidentState::Resolved {
        incident.resolved_at = Some(update.at);
    }
    incident.updates.push(update.clone());
    let audit = AuditRecord::by(p, "status.incident.updated", format!("incident:{id}"))
        .summary(json!({"state": state.key(), "impact": update.impact.key()}));
    if !store
        .add_incident_update(
            &incident,
            &update,
            &jobs_for(&incident, &update, false),
            &audit,
        )
        .await?
    {
        return Err(DomainError::Conflict(
            "the incident was resolved meanwhile; open a new one if the problem is back".into(),
        ));
    }
    Ok(incident)
}

/// The status page: every region's components with their state, and the open incidents
/// (with `history`, the last resolved ones too). Needs no sign-in; names no customer.
pub async fn page(store: &dyn StatusStore, cfg: &StatusConfig, history: bool) -> Result<Value> {
    let open = store.list_incidents(true, 100).await?;
    let regions: Vec<Value> = cfg
        .regions
        .iter()
        .map(|r| {
            let components: Vec<Value> = cfg
                .components
                .iter()
                .map(|c| {
                    let state = open
                        .iter()
                        .filter(|i| i.regions.contains(r) && i.components.contains(&c.key))
                        .map(|i| i.impact)
                        .max()
                        .unwrap_or(ComponentState::Operational);
                    json!({"key": c.key, "name": c.name, "state": state})
                })
                .collect();
            let worst = open
                .iter()
                .filter(|i| i.regions.contains(r))
                .map(|i| i.impact)
                .max()
                .unwrap_or(ComponentState::Operational);
            json!({"key": r, "state": worst, "components": components})
        })
        .collect();
    let overall = open
        .iter()
        .map(|i| i.impact)
        .max()
        .unwrap_or(ComponentState::Operational);
    let mut out = json!({
        "generated_at": crate::now(),
        "state": overall,
        "regions": regions,
        "incidents": open,
    });
    if history {
        let recent: Vec<Incident> = store
            .list_incidents(false, 50)
            .await?
            .into_iter()
            .filter(|i| i.resolved_at.is_some())
            .collect();
        out["resolved"] = json!(recent);
    }
    Ok(out)
}

/// Whether an open incident matches a case filed for `region` under `issue_area`: the
/// region is affected, and the area is one of the incident's or its components'.
pub fn matches(cfg: &StatusConfig, i: &Incident, region: &str, issue_area: &str) -> bool {
    i.resolved_at.is_none()
        && i.regions.iter().any(|r| r == region)
        && (i.issue_areas.iter().any(|a| a == issue_area)
            || cfg
                .components
                .iter()
                .filter(|c| i.components.contains(&c.key))
                .any(|c| c.issue_areas.iter().any(|a| a == issue_area)))
}

/// The open incidents of a tenant's region (for the intake form), those matching
/// `issue_area` first when one is given. Customers ask only for their own tenants.
pub async fn active_for_tenant(
    store: &dyn StatusStore,
    cfg: &StatusConfig,
    p: &Principal,
    tenant_slug: &str,
    issue_area: Option<&str>,
) -> Result<Vec<Value>> {
    let tenant = find_tenant(store, p, tenant_slug).await?;
    let region = tenant.region.key();
    let open = store.list_incidents(true, 100).await?;
    let mut out: Vec<(bool, Value)> = open
        .into_iter()
        .filter(|i| i.regions.iter().any(|r| r == region))
        .map(|i| {
            let m = issue_area.is_some_and(|a| matches(cfg, &i, region, a));
            let mut v = json!(i);
            v["matches_issue_area"] = json!(m);
            (m, v)
        })
        .collect();
    out.sort_by_key(|x| std::cmp::Reverse(x.0));
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

async fn find_tenant(
    store: &dyn StatusStore,
    p: &Principal,
    slug: &str,
) -> Result<crate::accounts::Tenant> {
    let not_found = || DomainError::field("tenant", "is not a tenant you can file cases for");
    if let Some(account) = p.user.account_id {
        return store
            .list_tenants(account)
            .await?
            .into_iter()
            .find(|t| t.slug == slug)
            .ok_or_else(not_found);
    }
    if !is_support(p) {
        return Err(not_found());
    }
    store.find_tenant(slug).await?.ok_or_else(not_found)
}

/// The open incidents a new case matches, offered to its requester to link.
pub async fn offers_for_case(
    store: &dyn StatusStore,
    cfg: &StatusConfig,
    case: &crate::cases::Case,
) -> Result<Vec<Incident>> {
    let open = store.list_incidents(true, 100).await?;
    offers_among(store, cfg, &open, case).await
}

/// [`offers_for_case`] among incidents already read (`open`).
pub async fn offers_among(
    store: &dyn StatusStore,
    cfg: &StatusConfig,
    open: &[Incident],
    case: &crate::cases::Case,
) -> Result<Vec<Incident>> {
    if open.iter().all(|i| i.resolved_at.is_some()) {
        return Ok(Vec::new());
    }
    let Some(tenant) = store
        .list_tenants(case.account_id)
        .await?
        .into_iter()
        .find(|t| t.id == case.tenant_id)
    else {
        return Ok(Vec::new());
    };
    Ok(open
        .iter()
        .filter(|i| matches(cfg, i, tenant.region.key(), &case.fields.issue_area))
        .cloned()
        .collect())
}

/// Links a case to an incident. Support staff link any case they may see to any incident;
/// a customer who may see the case may accept an offer: an open incident it matches.
pub async fn link_case(
    store: &dyn StatusStore,
    cfg: &StatusConfig,
    p: &Principal,
    number: i64,
    v: &Value,
) -> Result<Incident> {
    let case = crate::cases::get_case(store, p, number).await?;
    crate::permissions::require_scope(p, crate::users::Scope::CasesWrite)?;
    let id = match v
        .get("incident_id")
        .and_then(Value::as_str)
        .map(Uuid::parse_str)
    {
        Some(Ok(id)) => id,
        _ => {
            return Err(DomainError::field(
                "incident_id",
                "must be the id of an incident",
            ));
        }
    };
    let incident = store
        .get_incident(id)
        .await?
        .ok_or_else(|| DomainError::field("incident_id", "is not an incident"))?;
    if !is_support(p) {
        let offered = offers_for_case(store, cfg, &case).await?;
        if !offered.iter().any(|i| i.id == id) {
            return Err(DomainError::field(
                "incident_id",
                "is not an open incident that matches this case",
            ));
        }
    }
    let audit = AuditRecord::by(p, "case.incident_linked", format!("case:{number}"))
        .summary(json!({"incident": id}));
    store.link_incident(id, number, p.user.id, &audit).await?;
    Ok(incident)
}

/// Unlinks a case (support staff).
pub async fn unlink_case(
    store: &dyn StatusStore,
    p: &Principal,
    number: i64,
    id: Uuid,
) -> Result<()> {
    crate::cases::get_case(store, p, number).await?;
    if !is_support(p) {
        return Err(DomainError::Forbidden(
            "Only support staff can unlink a case from an incident.".into(),
        ));
    }
    crate::permissions::require_scope(p, crate::users::Scope::CasesWrite)?;
    let audit = AuditRecord::by(p, "case.incident_unlinked", format!("case:{number}"))
        .summary(json!({"incident": id}));
    if store.unlink_incident(id, number, &audit).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound { entity: "link" })
    }
}

/// The incidents a case is linked to (whoever may see the case).
pub async fn case_incidents(
    store: &dyn StatusStore,
    p: &Principal,
    number: i64,
) -> Result<Vec<Incident>> {
    crate::cases::get_case(store, p, number).await?;
    incidents_of(store, number).await
}

/// The incidents of a case the caller was shown.
pub async fn incidents_of(store: &dyn StatusStore, number: i64) -> Result<Vec<Incident>> {
    let mut out = Vec::new();
    for id in store.case_incident_ids(number).await? {
        if let Some(i) = store.get_incident(id).await? {
            out.push(i);
        }
    }
    Ok(out)
}

/// Subscribes the caller's address to incidents of `regions` (empty: all).
pub async fn subscribe(
    store: &dyn StatusStore,
    cfg: &StatusConfig,
    p: &Principal,
    v: &Value,
) -> Result<Subscription> {
    require_write(p)?;
    let mut errors = Vec::new();
    errors.extend(crate::error::unknown_fields(v, &["regions"]));
    let regions = keys(v, "regions", &cfg.regions, &mut errors);
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    let s = Subscription {
        id: Uuid::now_v7(),
        user_id: p.user.id,
        email: p.user.email.clone(),
        regions,
        created_at: crate::now(),
    };
    store.put_subscription(&s).await?;
    Ok(s)
}

/// The caller's subscription, if any.
pub async fn my_subscription(
    store: &dyn StatusStore,
    p: &Principal,
) -> Result<Option<Subscription>> {
    Ok(store.subscriptions(Some(p.user.id)).await?.pop())
}

/// A change to the caller's own settings needs a credential that may write: a read-only
/// token may look, not subscribe or unsubscribe.
fn require_write(p: &Principal) -> Result<()> {
    if p.has_scope(Scope::CasesWrite) || p.has_scope(Scope::Admin) {
        Ok(())
    } else {
        Err(DomainError::InsufficientScope(Scope::CasesWrite))
    }
}

/// Ends the caller's subscription.
pub async fn unsubscribe(store: &dyn StatusStore, p: &Principal) -> Result<()> {
    require_write(p)?;
    if store.delete_subscription(p.user.id).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound {
            entity: "subscription",
        })
    }
}

/// Someone told of incidents by address alone, without an account. Nothing is sent to the
/// address but the confirmation until its owner confirms (double opt-in), and every message
/// carries a link that stops them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailSubscriber {
    /// Identifier (named in the links).
    pub id: Uuid,
    /// The address.
    pub email: String,
    /// Region keys (empty: all).
    pub regions: Vec<String>,
    /// When the owner confirmed; none while waiting.
    pub confirmed_at: Option<Timestamp>,
    /// When the last confirmation message was sent.
    pub asked_at: Timestamp,
    /// When the address was first given.
    pub created_at: Timestamp,
}

/// An address is sent at most one confirmation in this many hours, however often it is
/// given: the form cannot be used to flood someone's inbox.
pub const ASK_AGAIN_AFTER_HOURS: i64 = 24;

/// Purpose of the key the subscribers' links are signed with (derived from the server key).
pub const LINK_KEY: &str = "status-subscriber-links";
/// The link that confirms an address.
pub const CONFIRM: &str = "confirm";
/// The link that stops the messages.
pub const STOP: &str = "stop";

pub use crate::links::{ok as link_ok, token as link_token};

/// What a subscription request without an account comes to: the subscriber to write, and
/// whether a confirmation is to be sent now. An address already confirmed is left as it is,
/// and one asked less than a day ago is not asked again; the answer to the person is the same
/// either way, so the form tells no one who is subscribed.
pub async fn request_by_email(
    store: &dyn StatusStore,
    cfg: &StatusConfig,
    v: &Value,
    now: Timestamp,
) -> Result<(EmailSubscriber, bool)> {
    let mut errors = Vec::new();
    errors.extend(crate::error::unknown_fields(v, &["email", "regions"]));
    let email = match v
        .get("email")
        .and_then(Value::as_str)
        .map(crate::users::normalize_email)
    {
        Some(Ok(e)) => Some(e),
        Some(Err(m)) => {
            errors.push(FieldError::new("email", m));
            None
        }
        None => {
            errors.push(FieldError::new(
                "email",
                "is required: the address to send incident updates to",
            ));
            None
        }
    };
    let regions = keys(v, "regions", &cfg.regions, &mut errors);
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Err(DomainError::Validation(errors));
    };
    match store.email_subscriber(&email).await? {
        Some(s) if s.confirmed_at.is_some() => Ok((s, false)),
        Some(mut s) => {
            let recent = now.duration_since(s.asked_at).as_secs() < ASK_AGAIN_AFTER_HOURS * 3600;
            s.regions = regions;
            if !recent {
                s.asked_at = now;
            }
            Ok((s, !recent))
        }
        None => Ok((
            EmailSubscriber {
                id: Uuid::now_v7(),
                email,
                regions,
                confirmed_at: None,
                asked_at: now,
                created_at: now,
            },
            true,
        )),
    }
}

/// The timeline event a resolved incident leaves on each linked case.
pub fn case_event(incident: &Incident, update: &IncidentUpdate) -> NewEvent {
    NewEvent {
        actor_id: None,
        kind: EventKind::IncidentUpdate,
        public: true,
        data: json!({
            "incident": incident.id,
            "title": incident.title,
            "state": update.state,
            "body": update.body,
        }),
        at: crate::now(),
    }
}

/// The webhook payload of an update.
pub fn payload(event_type: &str, incident: &Incident, update: &IncidentUpdate) -> Value {
    json!({
        "type": event_type,
        "timestamp": update.at,
        "data": {
            "incident": {
                "id": incident.id, "title": incident.title, "state": incident.state,
                "impact": incident.impact, "regions": incident.regions,
                "components": incident.components, "started_at": incident.started_at,
                "resolved_at": incident.resolved_at,
            },
            "update": update,
        }
    })
}

/// Incidents of the status page, their links to cases and the subscriptions.
#[async_trait::async_trait]
pub trait StatusStore: DirectoryStore + CaseStore {
    /// Stores a new incident with its first update and the jobs that announce it.
    async fn create_incident(
        &self,
        incident: &crate::status::Incident,
        jobs: &[NewJob],
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Saves an open incident's new state and its update with the jobs that announce it;
    /// false, writing nothing, when the incident was resolved meanwhile.
    async fn add_incident_update(
        &self,
        incident: &crate::status::Incident,
        update: &crate::status::IncidentUpdate,
        jobs: &[NewJob],
        audit: &AuditRecord,
    ) -> Result<bool>;

    /// An incident with its updates.
    async fn get_incident(&self, id: Uuid) -> Result<Option<crate::status::Incident>>;

    /// Incidents (only open ones, or all), newest first, with their updates.
    async fn list_incidents(
        &self,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<crate::status::Incident>>;

    /// Links a case to an incident (linking twice changes nothing).
    async fn link_incident(
        &self,
        id: Uuid,
        number: i64,
        by: Uuid,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Unlinks a case; whether it was linked.
    async fn unlink_incident(&self, id: Uuid, number: i64, audit: &AuditRecord) -> Result<bool>;

    /// The incidents a case is linked to.
    async fn case_incident_ids(&self, number: i64) -> Result<Vec<Uuid>>;

    /// The cases linked to an incident.
    async fn incident_case_numbers(&self, id: Uuid) -> Result<Vec<i64>>;

    /// Saves a person's email subscription (replacing theirs).
    async fn put_subscription(&self, s: &crate::status::Subscription) -> Result<()>;

    /// The email subscriptions: everyone's, or one person's.
    async fn subscriptions(
        &self,
        user_id: Option<Uuid>,
    ) -> Result<Vec<crate::status::Subscription>>;

    /// Ends a person's subscription; whether there was one.
    async fn delete_subscription(&self, user_id: Uuid) -> Result<bool>;

    /// The subscriber without an account at this address, if any.
    async fn email_subscriber(&self, email: &str)
    -> Result<Option<crate::status::EmailSubscriber>>;

    /// One subscriber without an account.
    async fn get_email_subscriber(
        &self,
        id: Uuid,
    ) -> Result<Option<crate::status::EmailSubscriber>>;

    /// Writes a subscriber without an account, with the confirmation to send, in one
    /// transaction.
    async fn put_email_subscriber(
        &self,
        s: &crate::status::EmailSubscriber,
        confirmation: Option<&crate::mail::NewMail>,
    ) -> Result<()>;

    /// Marks a subscriber confirmed; whether it was waiting.
    async fn confirm_email_subscriber(&self, id: Uuid, at: Timestamp) -> Result<bool>;

    /// Removes a subscriber without an account; whether there was one.
    async fn delete_email_subscriber(&self, id: Uuid) -> Result<bool>;

    /// The confirmed subscribers without an account.
    async fn email_subscribers(&self) -> Result<Vec<crate::status::EmailSubscriber>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_token_opens_only_its_own_subscriber_and_purpose() {
        let key = [7u8; 32];
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let t = link_token(&key, STOP, a);
        assert!(link_ok(&key, STOP, a, &t));
        assert!(!link_ok(&key, STOP, b, &t), "another subscriber");
        assert!(!link_ok(&key, CONFIRM, a, &t), "another purpose");
        assert!(!link_ok(&[8u8; 32], STOP, a, &t), "another server key");
        assert!(!link_ok(&key, STOP, a, "not-base64!"));
        assert!(!link_ok(&key, STOP, a, ""));
    }

    fn incident(regions: &[&str], components: &[&str], areas: &[&str]) -> Incident {
        Incident {
            id: Uuid::nil(),
            title: "t".into(),
            state: IncidentState::Investigating,
            impact: ComponentState::Degraded,
            regions: regions.iter().map(|s| (*s).to_owned()).collect(),
            components: components.iter().map(|s| (*s).to_owned()).collect(),
            issue_areas: areas.iter().map(|s| (*s).to_owned()).collect(),
            started_at: crate::now(),
            resolved_at: None,
            updates: vec![],
        }
    }

    #[test]
    fn a_case_matches_by_region_and_by_the_area_of_a_component_or_the_incident() {
        let cfg = StatusConfig::default();
        let i = incident(&["eu"], &["sign-in"], &["webhooks"]);
        assert!(matches(&cfg, &i, "eu", "sign-in-and-redirects"));
        assert!(matches(&cfg, &i, "eu", "webhooks"));
        assert!(!matches(&cfg, &i, "apac", "sign-in-and-redirects"));
        assert!(!matches(&cfg, &i, "eu", "tokens-and-jwks"));
        let mut resolved = i.clone();
        resolved.resolved_at = Some(crate::now());
        assert!(!matches(&cfg, &resolved, "eu", "webhooks"));
    }

    #[test]
    fn the_default_settings_are_valid_and_bad_ones_are_named() {
        let cfg = StatusConfig::default();
        let areas: Vec<String> = crate::taxonomy::DEFAULT_ISSUE_AREAS
            .iter()
            .map(|a| a.0.to_owned())
            .collect();
        assert_eq!(cfg.validate(Some(&areas)), Ok(()));
        let mut bad = cfg.clone();
        bad.regions.push("mars".into());
        assert!(bad.validate(None).unwrap_err().contains("mars"));
        let mut twice = cfg.clone();
        twice.components.push(twice.components[0].clone());
        assert!(twice.validate(None).unwrap_err().contains("twice"));
        let mut area = cfg;
        area.components[0].issue_areas.push("astrology".into());
        assert!(
            area.validate(Some(&areas))
                .unwrap_err()
                .contains("astrology")
        );
    }

    #[test]
    fn states_order_by_severity() {
        assert!(ComponentState::MajorOutage > ComponentState::PartialOutage);
        assert!(ComponentState::PartialOutage > ComponentState::Degraded);
        assert!(ComponentState::Degraded > ComponentState::Maintenance);
        assert!(ComponentState::Maintenance > ComponentState::Operational);
        for s in [
            "operational",
            "degraded",
            "partial_outage",
            "major_outage",
            "maintenance",
        ] {
            assert_eq!(ComponentState::parse(s).map(ComponentState::key), Some(s));
        }
    }
}
