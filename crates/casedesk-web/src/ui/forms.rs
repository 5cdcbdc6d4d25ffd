//! Form posts and form fields: reading a posted form, and rendering a labelled field with
//! its hint and its error tied to it (`aria-describedby`, `aria-invalid`).

use axum::body::Bytes;
use casedesk_core::FieldError;
use maud::{Markup, html};

/// The fields of a posted form, in order (a name may repeat, as checkboxes do).
#[derive(Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// Reads an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &Bytes) -> Fields {
        Fields(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The first value of `name`, trimmed, if not empty.
    pub fn opt(&self, name: &str) -> Option<String> {
        let v = self.get(name).trim();
        (!v.is_empty()).then(|| v.to_owned())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Field errors of a form that was sent back.
#[derive(Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    /// The message for field `name`, if it has one.
    pub fn of(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message.as_str())
    }
}

/// A field's dotted path as the person filling the form knows it: `contact.timezone` is
/// "Time zone", `identifiers.occurred_at` "When the error happened". Pages never show the
/// path itself; the API keeps it.
pub fn label_of(path: &str) -> String {
    let known = match path {
        "contact.email" => Some("Case email"),
        "contact.phone" => Some("Phone"),
        "contact.timezone" | "timezone" => Some("Time zone"),
        "identifiers.occurred_at" => Some("When the error happened"),
        "context.started_at" => Some("When the problem started"),
        "identifiers.review_needed_by" => Some("Review needed by"),
        "steps_to_reproduce" => Some("Steps to reproduce"),
        "team_contacts" => Some("Team contacts"),
        "files" | "file" => Some("Files"),
        "body" => Some("Message"),
        _ => None,
    };
    if let Some(k) = known {
        return k.into();
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    // `event_types[0]` is the event types field: the index is the API's.
    let last = last.split('[').next().unwrap_or(last);
    // A field of one row among many carries the row's id (`title-<uuid>`): not a word.
    let split = last
        .len()
        .checked_sub(36)
        .and_then(|at| Some((last.get(..at)?, last.get(at..)?)));
    let last = match split {
        Some((name, id)) if name.ends_with('-') && uuid::Uuid::parse_str(id).is_ok() => {
            name.trim_end_matches('-')
        }
        _ => last,
    };
    let words: Vec<String> = last
        .split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| match w {
            "id" => "ID".to_owned(),
            "uri" => "URI".to_owned(),
            "url" => "URL".to_owned(),
            "jwks" => "JWKS".to_owned(),
            "sla" => "SLA".to_owned(),
            "csm" => "CSM".to_owned(),
            "nda" => "NDA".to_owned(),
            "timezone" => "time zone".to_owned(),
            w => w.to_owned(),
        })
        .collect();
    let mut out = words.join(" ");
    if let Some(first) = out.get(..1) {
        out = first.to_uppercase() + out.get(1..).unwrap_or("");
    }
    out
}

/// An error message in words for a page: the API's "is required: …" and its time formats
/// become plain sentences.
pub fn message_words(message: &str) -> String {
    let m = message.trim();
    let sentence = if m == "is required" {
        "Please fill this in.".to_owned()
    } else if let Some(rest) = m.strip_prefix("is required: ") {
        format!("Please fill this in: {}.", rest.trim_end_matches('.'))
    } else if m.contains("RFC 3339") {
        "must be a date and time, such as 20 November 2026 at 14:03; the date picker writes one."
            .to_owned()
    } else {
        m.to_owned()
    };
    // Keys of the API (`self_hosted`, `every_time`) read as words, and a date picker needs
    // no format.
    let sentence = sentence
        .replace('`', "")
        .replace(" (YYYY-MM-DD)", "")
        .replace("an IANA name", "a name such as Europe/Berlin");
    // A word with underscores reads with spaces; a name with dots, slashes or an @ (an event
    // type, a path, an address) stays exactly as it must be typed.
    sentence
        .split(' ')
        .map(|w| {
            if w.contains(['.', '/', '@']) {
                w.to_owned()
            } else {
                w.replace('_', " ")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The element id of a field named by a dotted path.
pub fn id_of(name: &str) -> String {
    name.replace(['.', '[', ']'], "-")
}

/// How a field is drawn.
pub enum Kind<'a> {
    /// `<input type=…>`.
    Input(&'a str),
    /// `<textarea>`.
    Area,
    /// `<select>` over `(value, label)`, with an empty first choice.
    Select(&'a [(String, String)]),
}

/// One labelled field with its hint and its error.
pub fn field(
    name: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
    kind: Kind<'_>,
    required: bool,
    errors: &Errors,
) -> Markup {
    let id = id_of(name);
    let error = errors.of(name);
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let mut described = Vec::new();
    if hint.is_some() {
        described.push(hint_id.clone());
    }
    if error.is_some() {
        described.push(error_id.clone());
    }
    let described = (!described.is_empty()).then(|| described.join(" "));
    let invalid = error.map(|_| "true");
    html! {
        div.field {
            label for=(id) {
                (label)
                @if required { " " span.muted { "(required)" } }
            }
            @if let Some(h) = hint { span.hint id=(hint_id) { (h) } }
            @match kind {
                Kind::Input(t) => {
                    input id=(id) name=(name) type=(t) value=(value) required[required]
                        aria-describedby=[described.as_deref()] aria-invalid=[invalid];
                }
                Kind::Area => {
                    textarea id=(id) name=(name) required[required]
                        aria-describedby=[described.as_deref()] aria-invalid=[invalid] { (value) }
                }
                Kind::Select(options) => {
                    select id=(id) name=(name) required[required]
                        aria-describedby=[described.as_deref()] aria-invalid=[invalid] {
                        option value="" { "Choose…" }
                        @for (v, l) in options {
                            option value=(v) selected[v == value] { (l) }
                        }
                    }
                }
            }
            @if let Some(e) = error { span.field-error id=(error_id) { (message_words(e)) } }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A summary of a form's errors at its top, each linking to its field.
pub fn summary(errors: &Errors) -> Markup {
    html! {
        @if !errors.0.is_empty() {
            div.notice.bad role="alert" tabindex="-1" id="form-errors" {
                p { strong {
                    @if errors.0.len() == 1 { "1 field needs attention." } @else { (errors.0.len()) " fields need attention." }
                    " Nothing was saved or sent."
                } }
                ul {
                    @for e in &errors.0 {
                        li { a href=(format!("#{}", id_of(&e.field))) { (label_of(&e.field)) } ": " (message_words(&e.message)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_with_an_error_points_at_it() {
        let errs = Errors(vec![FieldError::new("contact.phone", "is required")]);
        let html = field(
            "contact.phone",
            "Phone",
            Some("With country code"),
            "",
            Kind::Input("tel"),
            true,
            &errs,
        )
        .into_string();
        assert!(html.contains(r#"for="contact-phone""#));
        assert!(html.contains(r#"aria-describedby="contact-phone-hint contact-phone-error""#));
        assert!(html.contains(r#"aria-invalid="true""#));
        assert!(html.contains(
            r#"<span class="field-error" id="contact-phone-error">Please fill this in.</span>"#
        ));
    }

    #[test]
    fn pages_name_fields_and_reasons_in_words() {
        assert_eq!(label_of("contact.timezone"), "Time zone");
        assert_eq!(label_of("identifiers.organization_id"), "Organization ID");
        assert_eq!(label_of("redirect_uri"), "Redirect URI");
        assert_eq!(
            label_of("title-01a24d3b-69ee-743a-9414-0d9014df50de"),
            "Title"
        );
        assert_eq!(label_of("added_by"), "Added by");
        // Whatever a client names, a label never fails.
        assert_eq!(
            label_of("ééééééééééééééééééééééééééééééééééééééééé"),
            "ééééééééééééééééééééééééééééééééééééééééé"
        );
        assert_eq!(
            message_words("is required: the token to explain"),
            "Please fill this in: the token to explain."
        );
        assert!(!message_words("must be an RFC 3339 time with offset").contains("RFC"));
        assert_eq!(
            message_words("is required: cloud, self_hosted or hybrid"),
            "Please fill this in: cloud, self hosted or hybrid."
        );
        assert_eq!(
            message_words("must be one of case.status_changed, case.sla_breached"),
            "must be one of case.status_changed, case.sla_breached"
        );
    }

    #[test]
    fn values_are_escaped() {
        let html = field(
            "subject",
            "Subject",
            None,
            "<script>x</script>",
            Kind::Input("text"),
            false,
            &Errors::default(),
        )
        .into_string();
        assert!(!html.contains("<script>"));
        assert!(!html.contains("aria-invalid"));
    }
}
