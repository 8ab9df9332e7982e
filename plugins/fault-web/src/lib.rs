//! `fault-web` (test only): a component exporting only
//! `wasi:http/incoming-handler`, mounted at `/app/fault-web/`.
//!
//! - `ok`: 200 `ok`.
//! - `headers`: the request's headers, one `name: value` a line.
//! - `trap`: panics. `loop`: spins forever. `alloc`: grows memory without end.
//! - `big`: an 8 MiB body. `no-response`: returns without answering.
//! - `fetch?url=…`: tries an outgoing request; answers what happened.
//! - `set-cookie`: tries to set wxhost's session cookie (and one of its own).

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
};

struct FaultWeb;

fn respond(out: ResponseOutparam, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let fields = Fields::new();
    for (k, v) in headers {
        let _ = fields.append(k, v.as_bytes());
    }
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(status);
    let b = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    {
        let stream = b.write().unwrap();
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(b, None);
}

fn fetch(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", r)) => (Scheme::Https, r),
        Some((_, r)) => (Scheme::Http, r),
        None => (Scheme::Http, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let req = OutgoingRequest::new(Fields::new());
    let _ = req.set_scheme(Some(&scheme));
    let _ = req.set_authority(Some(authority));
    let _ = req.set_path_with_query(Some(path));
    match outgoing_handler::handle(req, None) {
        Err(e) => format!("refused: {e:?}"),
        Ok(future) => {
            future.subscribe().block();
            match future.get() {
                Some(Ok(Ok(resp))) => format!("fetched: HTTP {}", resp.status()),
                Some(Ok(Err(e))) => format!("refused: {e:?}"),
                other => format!("failed: {other:?}"),
            }
        }
    }
}

impl Guest for FaultWeb {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let pq = request.path_with_query().unwrap_or_default();
        let (path, query) = pq.split_once('?').unwrap_or((&pq, ""));
        let page = path.strip_prefix("/app/fault-web/").unwrap_or(path);
        match page {
            "ok" => respond(out, 200, &[("content-type", "text/plain")], b"ok"),
            "headers" => {
                let mut text = String::new();
                for (name, value) in request.headers().entries() {
                    text.push_str(&format!("{name}: {}\n", String::from_utf8_lossy(&value)));
                }
                respond(out, 200, &[("content-type", "text/plain")], text.as_bytes());
            }
            "trap" => panic!("fault-web: trap on purpose"),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                loop {
                    hog.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hog);
                }
            }
            "big" => respond(out, 200, &[], &vec![b'x'; 8 << 20]),
            "no-response" => drop(out),
            "fetch" => {
                let url = query.strip_prefix("url=").unwrap_or("http://127.0.0.1:9/");
                let text = fetch(url);
                respond(out, 200, &[("content-type", "text/plain")], text.as_bytes());
            }
            "set-cookie" => respond(
                out,
                200,
                &[
                    ("set-cookie", "wxhost_session=forged; Path=/"),
                    ("set-cookie", "theme=dark; Path=/app/fault-web/"),
                ],
                b"cookies",
            ),
            _ => respond(out, 404, &[], b"no such page"),
        }
    }
}

wasip2::http::proxy::export!(FaultWeb);
