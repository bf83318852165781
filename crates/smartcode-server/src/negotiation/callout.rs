//! One call out to a seller's negotiation endpoint, bounded: an `http(s)` URL whose every address
//! is public (unless the operator allows private ones), connected to the address that was checked
//! (so a name that resolves again elsewhere cannot move the call), no redirects, one time limit,
//! and an answer read up to a byte limit and no further.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use smartcode_core::limits::NEGOTIATION_ANSWER_BYTES_MAX;

/// Why a call out has no usable answer: said to the holder beside the queued purchase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The endpoint is not one the broker calls (scheme, address, or a private address the
    /// operator did not allow); nothing was sent.
    Refused(String),
    /// Sent, but no answer the broker can use: silence, an error status, too large, or garbage.
    NoAnswer(String),
}

impl CallError {
    pub fn describe(&self) -> &str {
        match self {
            CallError::Refused(why) | CallError::NoAnswer(why) => why,
        }
    }
}

/// Is `ip` an address the public internet routes? Loopback, private, link-local, shared (CGNAT),
/// unique-local, documentation, multicast and unspecified addresses are not.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// The endpoint, checked: its URL and the address to connect to.
pub async fn check_endpoint(endpoint: &str, allow_private: bool) -> Result<(url::Url, SocketAddr), CallError> {
    let refused = |why: &str| CallError::Refused(why.to_owned());
    let url = url::Url::parse(endpoint).map_err(|_| refused("the endpoint is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return Err(refused("the endpoint must be an http or https URL without credentials"));
    }
    let host = url.host_str().ok_or_else(|| refused("the endpoint names no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| CallError::NoAnswer("the host did not resolve in time".into()))?
            .map_err(|_| CallError::NoAnswer("the host does not resolve".into()))?
            .collect(),
    };
    let first = *addresses
        .first()
        .ok_or_else(|| CallError::NoAnswer("the host has no address".into()))?;
    if !allow_private && addresses.iter().any(|a| !is_public(a.ip())) {
        return Err(refused(
            "the endpoint is on a private or loopback address, which this broker does not call",
        ));
    }
    Ok((url, first))
}

/// POSTs `body` (JSON) to `url`, connecting to `address`, within `timeout`; answers the body of a
/// 2xx answer of at most [`NEGOTIATION_ANSWER_BYTES_MAX`] bytes.
pub async fn post(url: &url::Url, address: SocketAddr, body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, CallError> {
    let no_answer = |why: String| CallError::NoAnswer(why);
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, address)
        .timeout(timeout)
        .build()
        .map_err(|e| no_answer(format!("no client ({e})")))?;
    let call = async {
        let mut response = client
            .post(url.clone())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|_| no_answer("no answer came".into()))?;
        if !response.status().is_success() {
            return Err(no_answer(format!(
                "the endpoint answered {}",
                response.status().as_u16()
            )));
        }
        let mut answer = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| no_answer("the answer stopped".into()))?
        {
            if answer.len() + chunk.len() > NEGOTIATION_ANSWER_BYTES_MAX {
                return Err(no_answer(format!(
                    "the answer is over {NEGOTIATION_ANSWER_BYTES_MAX} bytes"
                )));
            }
            answer.extend_from_slice(&chunk);
        }
        Ok(answer)
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| no_answer("no answer came in time".into()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_the_internet_routes_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_private_endpoint_is_refused_unless_allowed() {
        let refused = check_endpoint("http://127.0.0.1:9/negotiate", false).await;
        assert!(matches!(refused, Err(CallError::Refused(_))));
        assert!(check_endpoint("http://127.0.0.1:9/negotiate", true).await.is_ok());
        assert!(matches!(
            check_endpoint("ftp://example.com/", true).await,
            Err(CallError::Refused(_))
        ));
        assert!(matches!(
            check_endpoint("http://u:p@127.0.0.1/", true).await,
            Err(CallError::Refused(_))
        ));
    }
}
