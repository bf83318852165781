//! Browser sessions and CSRF tokens.
//!
//! Entering a code starts a server-side session: the browser holds only a random id in an
//! HttpOnly, SameSite=Strict cookie, and the broker keeps the code's keyed hash (never the code)
//! and the PIN in memory, forgotten after [`SESSION_IDLE_SECONDS`] without a request. Sessions live
//! in this process only: a restart logs everyone out, and several processes behind a load balancer
//! need sticky sessions.
//!
//! Every form carries a CSRF token: the keyed digest of a random value in a second cookie
//! (`sc_csrf`), so a page of another site can neither read the token nor make a valid one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use rand::RngCore;
use smartcode_core::code::{CodeHash, SecretCode};
use smartcode_core::ledger::controls::Pin;

use crate::keys::Keys;

pub use smartcode_core::limits::{SESSIONS_MAX, SESSION_IDLE_SECONDS};

pub const SESSION_COOKIE: &str = "sc_session";
pub const CSRF_COOKIE: &str = "sc_csrf";

/// Who a session acts as.
#[derive(Clone)]
pub enum Identity {
    /// A secret code, by its keyed hash, with the PIN entered alongside it.
    Code {
        hash: CodeHash,
        pin: Option<Pin>,
    },
    Operator,
}

/// A secret to show once, as it is shown (a secret code, an authorization or assurance code, an
/// alias). Its `Debug` never shows it.
pub struct Shown(String);

impl Shown {
    pub fn text(&self) -> &str {
        &self.0
    }
}

impl From<SecretCode> for Shown {
    fn from(code: SecretCode) -> Shown {
        Shown(code.reveal())
    }
}

impl From<smartcode_core::code::AssuranceCode> for Shown {
    fn from(code: smartcode_core::code::AssuranceCode) -> Shown {
        Shown(code.reveal())
    }
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shown(<redacted>)")
    }
}

/// A secret to show once, on the next page the session sees.
pub struct Reveal {
    pub code: Shown,
    pub what: String,
    /// The broker's domain: the QR code carries the code with it (`7KQ2-M9XD@broker.example`),
    /// so whoever scans it knows which broker the code belongs to.
    pub broker: String,
}

/// A message for the next page: what the last form did, or why it was refused.
#[derive(Clone)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
    /// A refused form, to show again as it was typed, with the message beside the wrong field.
    pub kept: Option<KeptForm>,
}

/// A refused form: which one (its id on the page), the field the refusal names, and what was
/// typed (never a PIN or a token).
#[derive(Clone, Default)]
pub struct KeptForm {
    pub form: String,
    pub field: Option<&'static str>,
    pub values: HashMap<String, String>,
}

struct Session {
    identity: Identity,
    last_seen: Instant,
    reveal: Option<Reveal>,
    notice: Option<Notice>,
}

/// What a page needs of its session.
pub struct Current {
    pub id: String,
    pub identity: Identity,
    pub reveal: Option<Reveal>,
    pub notice: Option<Notice>,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buffer);
    hex::encode(buffer)
}

impl Sessions {
    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a session and returns its id, for the cookie.
    pub fn start(&self, identity: Identity) -> String {
        let id = random_hex(32);
        let now = Instant::now();
        let mut map = self.locked();
        map.retain(|_, s| now.duration_since(s.last_seen) < Duration::from_secs(SESSION_IDLE_SECONDS));
        if map.len() >= SESSIONS_MAX {
            let oldest = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                identity,
                last_seen: now,
                reveal: None,
                notice: None,
            },
        );
        id
    }

    /// The session the request's cookie names, if it is still alive. Takes its one-time reveal
    /// and notice: they are shown on this page and never again.
    pub fn current(&self, headers: &HeaderMap) -> Option<Current> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let now = Instant::now();
        let mut map = self.locked();
        let session = map.get_mut(id)?;
        if now.duration_since(session.last_seen) >= Duration::from_secs(SESSION_IDLE_SECONDS) {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(Current {
            id: id.to_owned(),
            identity: session.identity.clone(),
            reveal: session.reveal.take(),
            notice: session.notice.take(),
        })
    }

    /// Leaves a secret to show once and a notice for the next page.
    pub fn leave(&self, id: &str, reveal: Option<Reveal>, notice: Option<Notice>) {
        if let Some(session) = self.locked().get_mut(id) {
            session.reveal = reveal;
            session.notice = notice;
        }
    }

    /// After a rekey or a PIN change the session acts with the new hash or PIN.
    pub fn replace_identity(&self, id: &str, identity: Identity) {
        if let Some(session) = self.locked().get_mut(id) {
            session.identity = identity;
        }
    }

    /// Whether the request names a session this process no longer has (it idled out, or the
    /// broker restarted): the page then says the session ended, rather than nothing.
    pub fn ended(&self, headers: &HeaderMap) -> bool {
        cookie(headers, SESSION_COOKIE).is_some_and(|id| !id.is_empty() && !self.locked().contains_key(id))
    }

    pub fn end(&self, id: &str) {
        self.locked().remove(id);
    }
}

/// The value of one cookie in the request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Strict always, Secure behind TLS.
pub fn set_cookie(name: &str, value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The CSRF nonce of this browser, and whether it is new (and must be set as a cookie).
pub fn csrf_nonce(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())) {
        Some(nonce) => (nonce.to_owned(), false),
        None => (random_hex(16), true),
    }
}

/// The token forms carry for a nonce.
pub fn csrf_token(keys: &Keys, nonce: &str) -> String {
    hex::encode(keys.fingerprint(&[b"csrf", nonce.as_bytes()]))
}

/// Whether a submitted form's token belongs to this browser's nonce, compared in constant time.
pub fn csrf_valid(keys: &Keys, headers: &HeaderMap, submitted: &str) -> bool {
    let Some(nonce) = cookie(headers, CSRF_COOKIE) else {
        return false;
    };
    let expected = csrf_token(keys, nonce);
    expected.len() == submitted.len()
        && expected
            .bytes()
            .zip(submitted.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A fresh key for a form, sent back as its Idempotency-Key so a double submission acts once.
pub fn form_nonce() -> String {
    random_hex(16)
}
