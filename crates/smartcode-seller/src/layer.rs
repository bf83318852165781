//! The tower layer: in front of a route's handler, it lets a request through only with a payment
//! the seller accepts, and otherwise answers it itself (`402` with an offer, or `503`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use http::Request;
use smartcode_api::PAYMENT_HEADER;
use tower::{Layer, Service};

use crate::check::Refusal;
use crate::payment::PaymentError;
use crate::{problem, Paywall};

/// The layer [`Paywall::layer`] makes; put it on the routes that cost money.
#[derive(Clone)]
pub struct PaywallLayer {
    pub(crate) paywall: Paywall,
}

impl<S> Layer<S> for PaywallLayer {
    type Service = PaywallService<S>;

    fn layer(&self, inner: S) -> PaywallService<S> {
        PaywallService {
            inner,
            paywall: self.paywall.clone(),
        }
    }
}

/// A route's service behind the paywall.
#[derive(Clone)]
pub struct PaywallService<S> {
    inner: S,
    paywall: Paywall,
}

impl<S> Service<Request<Body>> for PaywallService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The service that was polled ready serves this request; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let paywall = self.paywall.clone();
        let resource = request.uri().path().to_owned();
        let payment = request
            .headers()
            .get(PAYMENT_HEADER)
            .map(|value| value.to_str().map(str::to_owned).map_err(|_| Refusal::MalformedPayment));
        Box::pin(async move {
            let Some(payment) = payment else {
                return Ok(problem::payment_required(&paywall.offer(&resource)));
            };
            let checked = match payment {
                Ok(receipt_id) => paywall.check_payment(&receipt_id, &resource).await,
                Err(refusal) => Err(PaymentError::Refused(refusal)),
            };
            match checked {
                Ok(paid) => {
                    request.extensions_mut().insert(paid);
                    inner.call(request).await
                }
                Err(PaymentError::Refused(refusal)) => {
                    Ok(problem::payment_refused(&paywall.offer(&resource), &refusal))
                }
                Err(PaymentError::BrokerUnavailable(_)) => Ok(problem::broker_unavailable()),
            }
        })
    }
}
