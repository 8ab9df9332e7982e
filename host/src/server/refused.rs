//! [`Refused`]: a push or verification the protocol refused, as an HTTP
//! response — the protocol's own status (a 4xx for anything the client got
//! wrong, 5xx only for our configuration) and its one-word label, never
//! anything internal. It lives here so `protocol` never depends on axum.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::protocol::ProtocolError;

#[derive(Debug)]
pub struct Refused(pub ProtocolError);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "text/plain")],
            self.0.kind(),
        )
            .into_response()
    }
}
