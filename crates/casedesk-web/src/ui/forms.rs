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
            @if let Some(e) = error { span.field-error id=(error_id) { (e) } }
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
                p { strong { (errors.0.len()) " field(s) need attention. Nothing was sent." } }
                ul {
                    @for e in &errors.0 {
                        li { a href=(format!("#{}", id_of(&e.field))) { (e.field) } ": " (e.message) }
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
        assert!(
            html.contains(
                r#"<span class="field-error" id="contact-phone-error">is required</span>"#
            )
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
