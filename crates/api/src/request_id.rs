//! `x-request-id` on every response: the client's own when it sent a sane
//! one, a new one otherwise. Handlers read [`RequestId`]: the server's own
//! id of the request, unique whatever the client sent (the client's id, if
//! any, followed by a random suffix), because rows an attempt reserves and
//! the Idempotency-Key bound to it are found by this id.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

const HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

pub async fn assign(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let sent = request
        .headers()
        .get(&HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 128
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned);
    let fresh = uuid::Uuid::new_v4();
    let (id, internal) = match sent {
        Some(sent) => {
            let internal = format!("{sent}.{}", fresh.simple());
            (sent, internal)
        }
        None => (fresh.to_string(), fresh.to_string()),
    };
    request.extensions_mut().insert(RequestId(internal));
    let mut response = next.call(request).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}

impl RequestId {
    /// The id [`assign`] gave the request; a fresh one outside that middleware.
    pub fn of(request: &HttpRequest) -> Self {
        request
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::new_v4().to_string()))
    }
}

impl FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(RequestId::of(request)))
    }
}
