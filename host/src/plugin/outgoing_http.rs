//! [`OutgoingHttp`]: the WASI-HTTP hooks of a call. A plugin's outgoing
//! requests (`wasi:http/outgoing-handler`) are refused (`HTTP-request-denied`)
//! unless it is granted `http-outgoing`, and then go only to its
//! `http_hosts` when that list is set. Sockets stay denied either way (see
//! `state.rs`): this is the only way out.

use std::sync::Arc;

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::state::PluginScope;
use crate::config::Capability;

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
)>;

pub(crate) struct OutgoingHttp {
    plugin: Arc<str>,
    /// `None`: denied; `Some([])`: any host; else these hosts only.
    allowed: Option<Arc<[String]>>,
}

impl OutgoingHttp {
    pub fn new(scope: &PluginScope) -> OutgoingHttp {
        OutgoingHttp {
            plugin: scope.id.clone(),
            allowed: scope
                .capabilities
                .contains(&Capability::HttpOutgoing)
                .then(|| scope.http_hosts.clone()),
        }
    }

    fn allows(&self, uri: &http::Uri) -> bool {
        let Some(hosts) = &self.allowed else {
            return false;
        };
        if hosts.is_empty() {
            return true;
        }
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16();
        hosts.iter().any(|h| match h.rsplit_once(':') {
            Some((name, p)) if p.parse::<u16>().is_ok() => {
                name.eq_ignore_ascii_case(host) && port.map(|x| x.to_string()).as_deref() == Some(p)
            }
            _ => h.eq_ignore_ascii_case(host),
        })
    }
}

impl WasiHttpHooks for OutgoingHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        _ = fut;
        if !self.allows(request.uri()) {
            tracing::warn!(
                target: "wxhost::plugin",
                plugin = %self.plugin,
                host = request.uri().host().unwrap_or(""),
                "refused outgoing HTTP request: {}",
                if self.allowed.is_some() { "host not in http_hosts" } else { "capability http-outgoing not granted" }
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
