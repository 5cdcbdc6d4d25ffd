//! Managers' SLA settings: named business calendars (every version kept) and the policy of
//! each plan and priority (built-in defaults until edited).

use serde_json::{Value, json};
use uuid::Uuid;

use super::calendar::Calendar;
use super::clock::Calendars;
use super::policy::{Policy, default_policy};
use super::preview::require_manager;
use super::store::SlaStore;
use crate::accounts::{Environment, Plan, Region};
use crate::audit::{Actor, AuditRecord};
use crate::cases::Priority;
use crate::users::Principal;
use crate::{DomainError, Result};

/// A calendar name: lower-case letters, digits and dashes, 1–64 characters, not starting with
/// a dash and not `24x7`, so a name never reads as a time zone (those hold `/` or capitals).
pub fn check_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && name != "24x7";
    if ok {
        Ok(())
    } else {
        Err(DomainError::field(
            "name",
            "must be 1–64 lower-case letters, digits and dashes, not starting with a dash",
        ))
    }
}

/// Every version of calendar `name` as [`Calendars`], if it exists.
pub async fn load(store: &dyn SlaStore, name: &str) -> Result<Option<Calendars>> {
    let mut versions = Vec::new();
    for (from, spec) in store.calendar_versions(name).await? {
        versions.push((from, parsed(&spec, name)?));
    }
    Ok(Calendars::from_versions(versions))
}

/// Parsed calendars by their stored text. A calendar's lookup index is built on first use and
/// shared by its clones, so every case on one calendar reuses one index; keying by the text
/// means an edited calendar is simply a new entry.
static PARSED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, Calendar>>> =
    std::sync::LazyLock::new(Default::default);

/// Distinct calendar texts kept parsed; beyond it the map starts over.
const MAX_PARSED: usize = 256;

fn parsed(spec: &str, name: &str) -> Result<Calendar> {
    cached(spec, || {
        let v: Value = serde_json::from_str(spec)
            .map_err(|e| DomainError::Internal(format!("stored calendar {name}: {e}")))?;
        Calendar::from_json(&v)
    })
}

fn cached(key: &str, build: impl FnOnce() -> Result<Calendar>) -> Result<Calendar> {
    if let Some(c) = PARSED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(key)
    {
        return Ok(c.clone());
    }
    let c = build()?;
    let mut map = PARSED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if map.len() >= MAX_PARSED {
        map.clear();
    }
    map.insert(key.to_owned(), c.clone());
    Ok(c)
}

/// SLA settings managers may change: the warning share, whether on-hold pauses clocks, and
/// who is the duty manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaSettings {
    /// Share of a goal after which a warning is sent, in percent (1–99).
    pub warning_percent: u8,
    /// Whether clocks also stand still while a case is on hold.
    pub on_hold_pauses: bool,
    /// Emails of the duty managers told of warnings and breaches (empty: every manager).
    pub duty_managers: Vec<String>,
}

impl Default for SlaSettings {
    fn default() -> Self {
        SlaSettings {
            warning_percent: super::clock::DEFAULT_WARNING_PERCENT,
            on_hold_pauses: false,
            duty_managers: Vec::new(),
        }
    }
}

impl SlaSettings {
    /// Reads settings as managers write them; missing fields keep their defaults.
    pub fn from_json(v: &Value) -> Result<SlaSettings> {
        let Some(obj) = v.as_object() else {
            return Err(DomainError::field("body", "must be a JSON object"));
        };
        let mut s = SlaSettings::default();
        let mut errs = Vec::new();
        for (k, val) in obj {
            match k.as_str() {
                "warning_percent" => match val.as_u64() {
                    Some(n @ 1..=99) => s.warning_percent = n as u8,
                    _ => errs.push(crate::FieldError::new(
                        k.as_str(),
                        "must be a whole number from 1 to 99",
                    )),
                },
                "on_hold_pauses" => match val.as_bool() {
                    Some(b) => s.on_hold_pauses = b,
                    None => errs.push(crate::FieldError::new(k.as_str(), "must be true or false")),
                },
                "duty_managers" => {
                    let list = val.as_array().map(|a| {
                        a.iter()
                            .map(|e| {
                                e.as_str()
                                    .ok_or_else(|| "must be a list of email addresses".to_owned())
                                    .and_then(|e| {
                                        crate::users::normalize_email(e).map_err(|m| m.to_string())
                                    })
                            })
                            .collect::<std::result::Result<Vec<_>, _>>()
                    });
                    match list {
                        Some(Ok(l)) if l.len() <= 20 => s.duty_managers = l,
                        Some(Ok(_)) => errs.push(crate::FieldError::new(
                            k.as_str(),
                            "must list at most 20 addresses",
                        )),
                        Some(Err(m)) => errs.push(crate::FieldError::new(k.as_str(), m)),
                        None => errs.push(crate::FieldError::new(
                            k.as_str(),
                            "must be a list of email addresses",
                        )),
                    }
                }
                _ => errs.push(crate::FieldError::new(k.as_str(), "is not an SLA setting")),
            }
        }
        if errs.is_empty() {
            Ok(s)
        } else {
            Err(DomainError::Validation(errs))
        }
    }

    /// The settings as stored and shown.
    pub fn to_json(&self) -> Value {
        json!({"warning_percent": self.warning_percent, "on_hold_pauses": self.on_hold_pauses,
            "duty_managers": self.duty_managers})
    }
}

/// The SLA settings in force (defaults until a manager changes them).
pub async fn sla_settings(store: &dyn SlaStore) -> Result<SlaSettings> {
    match store.sla_settings().await? {
        Some(spec) => {
            let v: Value = serde_json::from_str(&spec)
                .map_err(|e| DomainError::Internal(format!("stored SLA settings: {e}")))?;
            SlaSettings::from_json(&v)
        }
        None => Ok(SlaSettings::default()),
    }
}

/// `GET /sla/settings`.
pub async fn get_settings(store: &dyn SlaStore, p: &Principal) -> Result<Value> {
    require_manager(p)?;
    Ok(sla_settings(store).await?.to_json())
}

/// `PUT /sla/settings`: replaces the settings; open cases are recomputed by a job.
pub async fn put_settings(store: &dyn SlaStore, p: &Principal, body: &Value) -> Result<Value> {
    require_manager(p)?;
    let s = SlaSettings::from_json(body)?;
    // Duty managers hear of every account's warnings and breaches: support managers only.
    for email in &s.duty_managers {
        let manager = store
            .find_user_by_email(email)
            .await?
            .is_some_and(|u| u.role == crate::users::Role::Manager);
        if !manager {
            return Err(DomainError::field(
                "duty_managers",
                format!(
                    "{email} is not a support manager; only managers are told of every account's warnings and breaches"
                ),
            ));
        }
    }
    let spec = s.to_json();
    let audit = AuditRecord::by(p, "sla.settings.update", "sla:settings").summary(spec.clone());
    store.put_sla_settings(&spec.to_string(), &audit).await?;
    Ok(spec)
}

/// The policy of a plan and priority, and whether a manager edited it.
pub async fn policy_for(
    store: &dyn SlaStore,
    plan: Plan,
    priority: Priority,
) -> Result<(Policy, bool)> {
    let edited = store.list_policies().await?;
    match edited
        .iter()
        .find(|(pl, pr, _, _)| pl == plan.key() && pr == priority.key())
    {
        Some((_, _, spec, _)) => {
            let v: Value = serde_json::from_str(spec)
                .map_err(|e| DomainError::Internal(format!("stored policy: {e}")))?;
            Ok((Policy::from_json(&v)?, true))
        }
        None => Ok((default_policy(plan, priority), false)),
    }
}

/// Replaces the `calendar` of a preview question by the stored calendar it names, if it
/// names one; other values are left for the preview to read.
pub async fn resolve(store: &dyn SlaStore, question: &mut Value) -> Result<()> {
    let Some(name) = question.get("calendar").and_then(Value::as_str) else {
        return Ok(());
    };
    if check_name(name).is_err() {
        return Ok(());
    }
    let versions = store.calendar_versions(name).await?;
    let Some((_, spec)) = versions.last() else {
        return Err(DomainError::field(
            "calendar",
            format!("there is no calendar named {name}"),
        ));
    };
    let v: Value = serde_json::from_str(spec)
        .map_err(|e| DomainError::Internal(format!("stored calendar {name}: {e}")))?;
    question["calendar"] = v;
    Ok(())
}

/// Saves a new version of calendar `name`, in force from now. Answers the stored calendar.
pub async fn put_calendar(
    store: &dyn SlaStore,
    p: &Principal,
    name: &str,
    body: &Value,
) -> Result<Value> {
    require_manager(p)?;
    check_name(name)?;
    let cal = Calendar::from_json(body)?;
    let spec = cal.to_json();
    let now = crate::now();
    let audit = AuditRecord::by(p, "sla.calendar.update", format!("calendar:{name}"))
        .summary(json!({"time_zone": cal.zone(), "continuous": cal.is_continuous()}));
    store
        .put_calendar(name, &spec.to_string(), now, &audit)
        .await?;
    Ok(json!({"name": name, "since": now.to_string(), "calendar": spec}))
}

/// The newest version of every calendar.
pub async fn list_calendars(store: &dyn SlaStore, p: &Principal) -> Result<Value> {
    require_manager(p)?;
    let mut items = Vec::new();
    for (name, since, spec) in store.list_calendars().await? {
        let spec: Value = serde_json::from_str(&spec).unwrap_or(Value::Null);
        items.push(json!({"name": name, "since": since.to_string(), "calendar": spec}));
    }
    Ok(json!({ "items": items }))
}

/// One calendar with all its versions, oldest first.
pub async fn get_calendar(store: &dyn SlaStore, p: &Principal, name: &str) -> Result<Value> {
    require_manager(p)?;
    let versions = store.calendar_versions(name).await?;
    let Some((since, spec)) = versions.last() else {
        return Err(DomainError::NotFound { entity: "calendar" });
    };
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    Ok(json!({
        "name": name,
        "since": since.to_string(),
        "calendar": parse(spec),
        "versions": versions
            .iter()
            .map(|(from, s)| json!({"since": from.to_string(), "calendar": parse(s)}))
            .collect::<Vec<_>>(),
    }))
}

/// Every plan × priority with its policy and whether a manager edited it.
pub async fn list_policies(store: &dyn SlaStore, p: &Principal) -> Result<Value> {
    require_manager(p)?;
    let edited = store.list_policies().await?;
    let mut items = Vec::new();
    for plan in Plan::ALL {
        for priority in Priority::ALL {
            let stored = edited
                .iter()
                .find(|(pl, pr, _, _)| pl == plan.key() && pr == priority.key());
            let (policy, updated) = match stored {
                Some((_, _, spec, at)) => (
                    serde_json::from_str::<Value>(spec).unwrap_or(Value::Null),
                    Some(at.to_string()),
                ),
                None => (default_policy(plan, priority).to_json(), None),
            };
            items.push(json!({"plan": plan.key(), "priority": priority.key(),
                "policy": policy, "edited_at": updated}));
        }
    }
    Ok(json!({ "items": items }))
}

/// Replaces the policy of a plan and priority.
pub async fn put_policy(
    store: &dyn SlaStore,
    p: &Principal,
    plan: &str,
    priority: &str,
    body: &Value,
) -> Result<Value> {
    require_manager(p)?;
    let plan: Plan = plan
        .parse()
        .map_err(|_| DomainError::NotFound { entity: "plan" })?;
    let priority = Priority::parse(priority).ok_or(DomainError::NotFound { entity: "priority" })?;
    let policy = Policy::from_json(body)?;
    let spec = policy.to_json();
    let now = crate::now();
    let audit = AuditRecord::by(
        p,
        "sla.policy.update",
        format!("policy:{}/{}", plan.key(), priority.key()),
    )
    .summary(spec.clone());
    store
        .put_policy(plan.key(), priority.key(), &spec.to_string(), now, &audit)
        .await?;
    Ok(
        json!({"plan": plan.key(), "priority": priority.key(), "policy": spec,
        "edited_at": now.to_string()}),
    )
}

/// The built-in calendar of a region: weekdays 08:00–18:00 in New York, Berlin or Singapore.
/// A manager overrides it by storing a calendar under the region's key (`americas`, `eu`,
/// `apac`).
pub fn region_calendar(region: Region) -> Result<Calendar> {
    let zone = match region {
        Region::Americas => "America/New_York",
        Region::Eu => "Europe/Berlin",
        Region::Apac => "Asia/Singapore",
    };
    // Through the parsed cache, so the built-in calendars' indexes are built once too.
    cached(&format!("built-in:{zone}"), || Calendar::office_hours(zone))
}

/// The calendar an account's business-hours goals count on: the one chosen for it, else the
/// one named after the region of its oldest production tenant (or oldest tenant), stored or
/// built in, else Europe's.
/// Answers its name, why it applies, and every version of it.
pub async fn account_calendars(
    store: &dyn SlaStore,
    account_id: Uuid,
) -> Result<(String, &'static str, Calendars)> {
    if let Some(name) = store.account_calendar(account_id).await? {
        if let Some(c) = load(store, &name).await? {
            return Ok((name, "chosen for the account", c));
        }
        if let Ok(region) = name.parse::<Region>() {
            let c = Calendars::single(region_calendar(region)?);
            return Ok((name, "chosen for the account (built in)", c));
        }
    }
    // Production tenants are where the account's users are; among equals, the oldest.
    let region = store
        .list_tenants(account_id)
        .await?
        .iter()
        .min_by_key(|t| (t.environment != Environment::Production, t.created_at))
        .map(|t| t.region)
        .unwrap_or(Region::Eu);
    let name = region.key().to_owned();
    if let Some(c) = load(store, &name).await? {
        return Ok((name, "stored for the account's region", c));
    }
    Ok((
        name,
        "built in for the account's region",
        Calendars::single(region_calendar(region)?),
    ))
}

/// [`set_account_calendar`] for a support manager.
pub async fn set_account_calendar_as(
    store: &dyn SlaStore,
    p: &Principal,
    account: &str,
    name: Option<&str>,
) -> Result<()> {
    require_manager(p)?;
    set_account_calendar(store, &crate::acts::Actor::user(&p.user), account, name).await
}

/// The calendar each account counts on, with why (managers).
pub async fn accounts_calendars(
    store: &dyn SlaStore,
    p: &Principal,
) -> Result<Vec<(crate::accounts::Account, String, &'static str)>> {
    require_manager(p)?;
    let mut out = Vec::new();
    for a in store.list_accounts().await? {
        let (name, why, _) = account_calendars(store, a.id).await?;
        out.push((a, name, why));
    }
    Ok(out)
}

/// Chooses the calendar of an account, or with `None` goes back to its region's. The name
/// must be a stored calendar or a region key.
pub async fn set_account_calendar(
    store: &dyn SlaStore,
    actor: &Actor,
    account: &str,
    name: Option<&str>,
) -> Result<()> {
    let acc = store
        .find_account(account)
        .await?
        .ok_or(DomainError::NotFound { entity: "account" })?;
    if let Some(n) = name {
        let is_region = ["americas", "eu", "apac"].contains(&n);
        if !is_region && store.calendar_versions(n).await?.is_empty() {
            return Err(DomainError::field(
                "calendar",
                format!("there is no calendar named {n}"),
            ));
        }
    }
    let audit = AuditRecord::new(
        actor.clone(),
        "sla.account_calendar.set",
        format!("account:{}", acc.name),
    )
    .account(Some(acc.id))
    .summary(json!({ "calendar": name }));
    store.set_account_calendar(acc.id, name, &audit).await
}
