//! One form on a page and its fields: after a refusal the form comes back as it was typed (its
//! [`KeptForm`]), the message inside it, and the wrong field marked `aria-invalid` and described by
//! the message (`aria-describedby`), so a screen reader reads why with the field.

use maud::{html, Markup};

use super::super::refusal::Refusal;
use super::super::session::{KeptForm, Notice};

/// A form of a page, by its id (the `id` of the `<form>`, and the prefix of its fields' ids).
pub struct FormView<'a> {
    pub id: String,
    kept: Option<&'a KeptForm>,
    error: Option<&'a str>,
}

impl<'a> FormView<'a> {
    /// The form `id`, with what the page's notice kept of it if the notice is its refusal.
    pub fn of(id: impl Into<String>, notice: Option<&'a Notice>) -> FormView<'a> {
        let id = id.into();
        let kept = notice.and_then(|n| n.kept.as_ref()).filter(|k| k.form == id);
        FormView {
            error: kept.and(notice.map(|n| n.text.as_str())),
            kept,
            id,
        }
    }

    /// Whether this form was refused and is shown again (a folded form then opens).
    pub fn is_kept(&self) -> bool {
        self.kept.is_some()
    }

    fn error_id(&self) -> String {
        format!("{}-error", self.id)
    }

    /// The refusal's message, where the form begins.
    pub fn error(&self) -> Markup {
        html! {
            @if let Some(text) = self.error {
                p.notice.error role="alert" id=(self.error_id()) { (text) }
            }
        }
    }

    fn value<'v>(&'v self, name: &str, default: &'v str) -> &'v str {
        match self.kept {
            Some(kept) => kept.values.get(name).map_or("", String::as_str),
            None => default,
        }
    }

    fn wrong(&self, name: &str) -> bool {
        self.kept.is_some_and(|k| k.field == Some(name))
    }

    pub fn field(&self, name: &str, label: &str, kind: &str, hint: Option<&str>) -> Markup {
        self.field_with(name, label, kind, hint, "")
    }

    /// A text field with its label; `default` unless the form was typed before.
    pub fn field_with(&self, name: &str, label: &str, kind: &str, hint: Option<&str>, default: &str) -> Markup {
        let id = format!("{}-{name}", self.id);
        let wrong = self.wrong(name);
        let described = wrong.then(|| self.error_id());
        let value = if kind == "password" {
            ""
        } else {
            self.value(name, default)
        };
        html! {
            div.field {
                label for=(id) { (label) }
                input id=(id) name=(name) type=(kind) value=(value) autocomplete="off"
                    aria-invalid=[wrong.then_some("true")] aria-describedby=[described];
                @if let Some(hint) = hint { small { (hint) } }
            }
        }
    }

    pub fn checkbox(&self, name: &str, label: &str, default: bool) -> Markup {
        let id = format!("{}-{name}", self.id);
        let checked = match self.kept {
            Some(kept) => kept.values.contains_key(name),
            None => default,
        };
        html! {
            div.field.check {
                input id=(id) name=(name) type="checkbox" value="on" checked[checked];
                label for=(id) { (label) }
            }
        }
    }
}

/// The attributes of a field a refusal may name, on a page that renders its refusal itself.
pub fn marks(refusal: Option<&Refusal>, name: &str, error_id: &str) -> (Option<&'static str>, Option<String>) {
    let wrong = refusal.is_some_and(|r| r.field == Some(name));
    (wrong.then_some("true"), wrong.then(|| error_id.to_owned()))
}
