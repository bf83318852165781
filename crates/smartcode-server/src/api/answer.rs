//! [`Answer`]: what a page shows of a write's answer, typed. A page reads the very answer the API
//! sends (see [`super::Reply::answer`]), so a form sent twice shows what the first one did; the
//! fields are those of API.md's answers that some page shows.

use serde::Deserialize;

/// The answer of any write, as far as a page shows it.
#[derive(Deserialize, Debug, Default)]
pub(crate) struct Answer {
    /// A new secret code, shown this once (a new child, an issued code, a rekey).
    pub code: Option<String>,
    /// A new code's id, or a deposit's or payout's transfer id.
    pub id: Option<String>,
    /// The code a deposit credited or a payout debited.
    pub code_id: Option<String>,
    pub public_code: Option<String>,
    pub label: Option<String>,
    /// What a payout paid out.
    pub amount: Option<AnswerMoney>,
    pub balance: Option<AnswerMoney>,
    /// The child a funding moved value into.
    pub child: Option<Box<Answer>>,
    pub reclaimed: Option<AnswerMoney>,
    pub codes_cancelled: Option<u64>,
    pub receipt: Option<AnswerReceipt>,
    /// An assurance code, shown this once.
    pub assurance_code: Option<String>,
    /// An authorization code, shown this once.
    pub authorization_code: Option<String>,
    /// A numeric alias: its digits (a new alias), or a rekey's new alias as an object.
    pub alias: Option<serde_json::Value>,
    /// A code's profile, as far as a page names it after an edit or a check.
    pub profile: Option<AnswerProfile>,
    /// The rule an approval made (`make_rule`), by its name.
    pub rule_added: Option<String>,
    /// The metered session an approval opened.
    pub session: Option<AnswerSession>,
    /// An item's purchase: its download grant.
    pub download: Option<AnswerDownload>,
}

/// A purchase's download grant, as the page after buying links it.
#[derive(Deserialize, Debug, Default)]
pub(crate) struct AnswerDownload {
    pub url: String,
    pub expires_at: String,
    pub fetches_left: u32,
}

/// A metered session, as far as a page names it after opening it.
#[derive(Deserialize, Debug, Default)]
pub(crate) struct AnswerSession {
    pub id: String,
    pub price_per_minute: AnswerMoney,
    pub cap: AnswerMoney,
}

/// A code's profile name, and whether someone checked it.
#[derive(Deserialize, Debug, Default)]
pub(crate) struct AnswerProfile {
    pub name: Option<String>,
    pub checked: Option<serde_json::Value>,
}

/// An amount and its currency, as the API writes them.
#[derive(Deserialize, Debug, Default)]
pub(crate) struct AnswerMoney {
    pub amount: String,
    pub currency: String,
}

impl std::fmt::Display for AnswerMoney {
    /// `2.50 USD`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// A payment's receipt, as far as the receipt page shows it.
#[derive(Deserialize, Debug, Default)]
pub(crate) struct AnswerReceipt {
    pub id: String,
    pub payee: String,
    pub amount: AnswerMoney,
    pub memo: Option<String>,
    pub created_at: String,
    pub broker: String,
}
