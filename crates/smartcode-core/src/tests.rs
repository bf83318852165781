//! Unit tests of the core's values: money, codes, ids and time.

use proptest::prelude::*;

use crate::clock::Timestamp;
use crate::code::*;
use crate::format::CodeFormat;
use crate::money::*;

#[test]
fn amounts_parse_exactly_and_refuse_what_they_cannot_hold() {
    assert_eq!(Amount::parse("10").unwrap().units(), 10_000_000);
    assert_eq!(Amount::parse("0.25").unwrap().units(), 250_000);
    assert_eq!(Amount::parse("0.000001").unwrap().units(), 1);
    assert_eq!(
        Amount::parse("1.500000000").unwrap().units(),
        1_500_000,
        "trailing zeros lose nothing"
    );
    assert_eq!(Amount::parse("0001.5").unwrap().units(), 1_500_000);
    assert_eq!(
        Amount::parse("1000000000").unwrap().units(),
        crate::limits::AMOUNT_UNITS_MAX
    );
    assert_eq!(Amount::parse("0.0000001"), Err(AmountError::TooPrecise));
    assert_eq!(Amount::parse("0"), Err(AmountError::NotPositive));
    assert_eq!(Amount::parse("0.000000"), Err(AmountError::NotPositive));
    assert_eq!(Amount::parse("1000000000.000001"), Err(AmountError::TooLarge));
    assert_eq!(Amount::parse("99999999999999999999999"), Err(AmountError::TooLarge));
    for bad in ["", "-1", "+1", "1e3", "1.", ".5", "1,5", " 1", "1 ", "0x10", "１"] {
        assert_eq!(Amount::parse(bad), Err(AmountError::Malformed), "{bad:?}");
    }
}

#[test]
fn units_format_with_at_least_two_decimals_and_no_rounding() {
    assert_eq!(format_units(10_000_000), "10.00");
    assert_eq!(format_units(250_000), "0.25");
    assert_eq!(format_units(1), "0.000001");
    assert_eq!(format_units(-1_230_000), "-1.23");
    assert_eq!(format_units(0), "0.00");
    assert_eq!(format_units(i64::MIN), "-9223372036854.775808");
}

proptest! {
    #[test]
    fn formatting_then_parsing_gives_back_the_same_units(units in 1i64..=crate::limits::AMOUNT_UNITS_MAX) {
        prop_assert_eq!(Amount::parse(&format_units(units)).unwrap().units(), units);
    }

    #[test]
    fn any_generated_secret_code_reads_back_in_every_spelling(_seed in 0u8..32) {
        let code = SecretCode::generate();
        let shown = code.reveal();
        for spelling in [shown.clone(), shown.to_lowercase(), shown.replace('-', " "), code.expose().to_owned()] {
            prop_assert_eq!(parse_code(&spelling, "localhost", CodeFormat::DEFAULT), Ok(ParsedCode::Secret(code.clone())));
        }
    }
}

#[test]
fn codes_read_forgivingly() {
    let expected = parse_code("0111-ABCD", "b.example", CodeFormat::DEFAULT).unwrap();
    for spelling in [
        "oIlL-abcd",
        "O1L1ABCD",
        " 0 1 1 1 - a b c d ",
        "0111ABCD@b.example",
        "0111ABCD@B.EXAMPLE",
    ] {
        assert_eq!(
            parse_code(spelling, "b.example", CodeFormat::DEFAULT).unwrap(),
            expected,
            "{spelling:?}"
        );
    }
    assert_eq!(
        parse_code("0111ABCD@other.example", "b.example", CodeFormat::DEFAULT),
        Err(CodeFormatError::OtherBroker)
    );
    for bad in [
        "",
        "ABC",
        "ABCDEFGHJ",
        "ABCD-EFG!",
        "ABCD-EFGU",
        "ABCD-EFGÉ",
        &"A".repeat(65),
    ] {
        assert_eq!(
            parse_code(bad, "b.example", CodeFormat::DEFAULT),
            Err(CodeFormatError::Malformed),
            "{bad:?}"
        );
    }
}

#[test]
fn public_codes_look_different_and_never_parse_as_secret() {
    let public = PublicCode::generate();
    let shown = public.to_string();
    assert!(shown.starts_with("P-") && shown.len() == 13, "{shown}");
    assert_eq!(
        parse_code(&shown, "x", CodeFormat::DEFAULT),
        Ok(ParsedCode::Public(public.clone()))
    );
    assert_eq!(
        parse_code(&shown.to_lowercase(), "x", CodeFormat::DEFAULT),
        Ok(ParsedCode::Public(public.clone()))
    );
    assert_eq!(PublicCode::from_stored(public.as_stored()), Some(public));
    // Eleven symbols not starting with P are neither kind.
    assert_eq!(
        parse_code("Q1234567890", "x", CodeFormat::DEFAULT),
        Err(CodeFormatError::Malformed)
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let code = SecretCode::generate();
    assert!(!format!("{code:?}").contains(code.expose()));
    let key = BrokerKey::generate();
    assert_eq!(format!("{key:?}"), "BrokerKey(<redacted>)");
}

#[test]
fn code_hashes_are_keyed() {
    let code = SecretCode::generate();
    let (a, b) = (BrokerKey::generate(), BrokerKey::generate());
    assert_eq!(a.hash_code(&code), a.hash_code(&code));
    assert_ne!(
        a.hash_code(&code),
        b.hash_code(&code),
        "another broker key gives another hash"
    );
}

#[test]
fn ids_parse_only_in_the_shape_they_are_made() {
    let id = CodeId::generate();
    assert_eq!(CodeId::parse(id.as_str()), Some(id.clone()));
    assert_eq!(CodeId::parse(&id.as_str().to_uppercase()), None);
    assert_eq!(CodeId::parse("c_short"), None);
    assert_eq!(CodeId::parse("x_0000000000000000"), None);
    let receipt = ReceiptId::generate_at(Timestamp(1_795_000_000_123_456));
    assert_eq!(receipt.as_str().len(), 28);
    assert_eq!(ReceiptId::parse(receipt.as_str()), Some(receipt));
}

#[test]
fn ordered_ids_sort_by_the_time_they_were_made() {
    let mut previous = ReceiptId::generate_at(Timestamp(0));
    for at in [1_000, 1_001_000, 1_795_000_000_123_456, 1_795_000_000_124_000] {
        let id = ReceiptId::generate_at(Timestamp(at));
        assert!(id > previous, "{id} sorts after {previous}");
        previous = id;
    }
    // Within one millisecond they differ in their 80 random bits.
    let at = Timestamp(1_795_000_000_123_456);
    assert_ne!(ReceiptId::generate_at(at), ReceiptId::generate_at(at));
}

#[test]
fn timestamps_round_trip_through_rfc3339() {
    let at = Timestamp(1_795_000_000_123_456);
    let text = at.to_rfc3339();
    assert!(text.ends_with('Z'), "{text}");
    assert_eq!(Timestamp::parse_rfc3339(&text), Some(at));
    assert_eq!(
        Timestamp::parse_rfc3339("2026-11-24T12:00:00+01:00"),
        Some(Timestamp(1_795_518_000_000_000))
    );
    assert_eq!(at.day().len(), 10);
    assert_eq!(at.month().len(), 7);
    assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    assert_eq!(Currency::parse("usd").unwrap().as_str(), "USD");
    assert!(Currency::parse("US").is_err() && Currency::parse("U$D").is_err());
}

#[test]
fn a_session_accrues_its_price_per_minute_rounded_down_until_its_expiry() {
    use crate::approval::{OfferTerms, OfferUnit};
    use crate::session::{CloseReason, SessionRecord, SessionState};
    let opened = crate::clock::Timestamp(1_000_000_000);
    let session = SessionRecord {
        id: crate::code::SessionId::generate(),
        code_id: crate::code::CodeId::parse("c_0000000000000001").unwrap(),
        owner_id: crate::code::CodeId::parse("c_0000000000000002").unwrap(),
        offer: OfferTerms {
            offer_id: "radio".into(),
            payee: crate::code::PublicCode::from_stored("P-4WZ8N-K3QJD").unwrap(),
            price: crate::money::Amount::parse("0.10").unwrap(),
            currency: crate::money::Currency::parse("USD").unwrap(),
            unit: OfferUnit::Minute,
            category: None,
            item: None,
            expires_at: opened.plus_seconds(600).unwrap(),
            json: "{}".into(),
            fingerprint: "f".into(),
        },
        cap: crate::money::Amount::parse("1").unwrap(),
        charged_units: 0,
        charges: 0,
        approved_at_depth: None,
        state: SessionState::Open,
        opened_at: opened,
        closed_at: None,
        approval_id: None,
    };
    let at = |seconds| opened.plus_seconds(seconds).unwrap();
    assert_eq!(session.accrued_units(opened), 0);
    // 0.10 a minute is 1666.66… micro-units a second: rounded down.
    assert_eq!(session.accrued_units(at(1)), 1_666);
    assert_eq!(session.accrued_units(at(60)), 100_000);
    // Nothing accrues after the expiry, and the session then reads closed.
    assert_eq!(session.accrued_units(at(6000)), 1_000_000);
    assert_eq!(session.state_at(at(599)), SessionState::Open);
    assert_eq!(session.state_at(at(600)), SessionState::Closed(CloseReason::Expired));
}

#[test]
fn an_amount_times_a_count_is_checked() {
    let price = Amount::parse("0.20").unwrap();
    assert_eq!(price.times(50), Some(Amount::parse("10").unwrap()));
    assert_eq!(price.times(0), None, "zero is no amount");
    assert_eq!(
        Amount::from_units(crate::limits::AMOUNT_UNITS_MAX).unwrap().times(2),
        None
    );
    assert_eq!(
        Amount::from_units(i64::MAX / 2 + 1)
            .ok()
            .and_then(|a| a.times(u32::MAX)),
        None
    );
}
