//! The HTTP server's edge: who may call it and from where, as axum middleware applied to the
//! whole router, before any handler runs. Each check is a pure function of the request's
//! head (tested on its own below) with a thin middleware around it:
//!
//! 1. **Host** (DNS rebinding): the `Host` header must name this server — an IP literal,
//!    `localhost` (or `*.localhost`), or a name given with `--http-host` — else 421.
//! 2. **Cross-site**: a request whose `Origin` is not this server's own, or that a browser
//!    marks as coming from another site (`Sec-Fetch-Site`), is refused (403), except a plain
//!    navigation to the status page.
//! 3. **Token**: with a token set, every route but `/healthz`, `/readyz`, the static status
//!    page (and `/metrics` with `--metrics-public`) needs `Authorization: Bearer <token>`,
//!    compared in constant time (401 otherwise).
//! 4. **Content type** (on the API's routes, [`json_only`]): requests that change state
//!    carry `Content-Type: application/json` (415 otherwise), which no page on another site
//!    can send without a preflight we never answer.
//!
//! Every response also says that it is not to be framed, sniffed or embedded by another
//! origin.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// A bearer token; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// The shortest token taken: 16 characters (a random one of 32 hex digits is advised).
pub const MIN_TOKEN: usize = 16;

impl Token {
    /// A token from a file's or variable's text (surrounding blanks and the final newline
    /// dropped). `from` names where it came from in errors, which never quote it.
    pub fn parse(text: &str, from: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.len() < MIN_TOKEN {
            return Err(format!(
                "{from}: the token must have at least {MIN_TOKEN} characters (for example \
                 `openssl rand -hex 32`)"
            ));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{from}: the token must be printable ASCII without blanks"
            ));
        }
        Ok(Self(t.to_owned()))
    }

    /// Whether `given` is this token, in time that does not depend on where they differ.
    fn matches(&self, given: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(given))
    }
}

/// Who may use the server.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Required on every route but the probes and the page when set.
    pub token: Option<Token>,
    /// `/metrics` without the token.
    pub metrics_public: bool,
    /// Host names besides IP literals and `localhost` (`--http-host`), lower case.
    pub hosts: Vec<String>,
}

/// The host part of a `Host` header value (no port, no brackets, lower case, no final dot),
/// or `None` if it is not one.
fn host_part(value: &str) -> Option<String> {
    let value = value.trim();
    let host = if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        inside.parse::<Ipv6Addr>().ok()?;
        return Some(inside.to_ascii_lowercase());
    } else {
        match value.rsplit_once(':') {
            Some((h, port)) if is_port(port) => h,
            Some(_) => return None,
            None => value,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    ok.then_some(host)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a `Host` header value names this server: an IP literal (a browser that sends one
/// loaded the page from that address itself, so no other site's name can point at us), a
/// loopback name, or one of `extra`.
pub fn host_allowed(value: &str, extra: &[String]) -> bool {
    let Some(host) = host_part(value) else {
        return false;
    };
    host.parse::<Ipv4Addr>().is_ok()
        || host.parse::<Ipv6Addr>().is_ok()
        || host == "localhost"
        || host.ends_with(".localhost")
        || extra.contains(&host)
}

/// Whether a request with these headers comes from a page of another origin: an `Origin`
/// other than `http(s)://<Host>` (or a `--http-host` name), or `Sec-Fetch-Site` saying
/// another site, unless it is a top-level navigation to the status page (which reads
/// nothing for the page that linked it).
pub fn cross_site(method: &Method, path: &str, headers: &HeaderMap, extra: &[String]) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let navigation = method == Method::GET
        && path == "/"
        && text("sec-fetch-mode").is_none_or(|m| m.eq_ignore_ascii_case("navigate"));
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return true;
        };
        let own = text("host").is_some_and(|host| same_origin(origin, host, extra));
        if !own && !navigation {
            return true;
        }
    }
    match text("sec-fetch-site") {
        Some(site)
            if site.eq_ignore_ascii_case("cross-site")
                || site.eq_ignore_ascii_case("same-site") =>
        {
            !navigation
        }
        _ => false,
    }
}

/// Whether `origin` (`scheme://host[:port]`) is the server answering at `host` (a `Host`
/// header value), or names a `--http-host` host.
fn same_origin(origin: &str, host: &str, extra: &[String]) -> bool {
    let lower = origin.trim().to_ascii_lowercase();
    let Some(authority) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return false; // "null", other schemes
    };
    if authority.eq_ignore_ascii_case(host.trim()) {
        return true;
    }
    host_part(authority).is_some_and(|h| extra.contains(&h))
}

/// Whether a request is exempt from the token: the probes, the static page, and `/metrics`
/// when it is public.
fn open_route(method: &Method, path: &str, access: &Access) -> bool {
    let read = method == Method::GET || method == Method::HEAD;
    read && (matches!(path, "/healthz" | "/readyz" | "/")
        || (access.metrics_public && path == "/metrics"))
}

/// Whether the request carries the token.
pub fn authorized(headers: &HeaderMap, token: &Token) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let Some((scheme, given)) = value.split_at_checked(7) else {
        return false;
    };
    scheme.eq_ignore_ascii_case(b"bearer ") && token.matches(given.trim_ascii())
}

/// Whether a request's content type is acceptable for its method: requests with a body
/// (POST, PUT, PATCH) must say `application/json`; a DELETE may say nothing.
pub fn content_type_ok(method: &Method, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?"));
    let json = |ct: &str| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    };
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => true,
        Method::DELETE => given.is_none_or(json),
        _ => given.is_some_and(json),
    }
}

/// The checks, in order, as one middleware over the whole router.
pub async fn check(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    let (method, path, headers) = (request.method(), request.uri().path(), request.headers());
    let refused = match headers.get(header::HOST).map(HeaderValue::to_str) {
        None => Some(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_host",
            "the request has no Host header",
        )),
        Some(Ok(host)) if host_allowed(host, &access.hosts) => None,
        Some(_) => Some(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown_host",
            "this server does not answer to that Host (add it with --http-host NAME)",
        )),
    }
    .or_else(|| {
        cross_site(method, path, headers, &access.hosts).then(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "requests from pages of another origin are refused",
            )
        })
    })
    .or_else(|| match &access.token {
        Some(token) if !open_route(method, path, &access) && !authorized(headers, token) => {
            Some(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs its token: Authorization: Bearer <token>",
            ))
        }
        _ => None,
    });
    let mut response = match refused {
        Some(e) => {
            let unauthorized = e.status == StatusCode::UNAUTHORIZED;
            let mut r = axum::response::IntoResponse::into_response(e);
            if unauthorized {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"rtsp-worker\""),
                );
            }
            r
        }
        None => next.run(request).await,
    };
    harden(response.headers_mut());
    response
}

/// The content-type check, for the routes that exist (an unknown route or method still
/// answers 404 or 405).
pub async fn json_only(request: Request, next: Next) -> Response {
    if content_type_ok(request.method(), request.headers()) {
        next.run(request).await
    } else {
        axum::response::IntoResponse::into_response(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "requests that change state must say Content-Type: application/json",
        ))
    }
}

/// Headers on every response: not framed, not sniffed, not embedded by another origin, no
/// referrer, and API answers not cached.
fn harden(headers: &mut HeaderMap) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cross-origin-resource-policy", "same-origin"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", "frame-ancestors 'none'"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn hosts_the_server_answers_to() {
        let extra = vec!["cams.example.org".to_owned()];
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:1",
            "[::1]:8080",
            "[::1]",
            "192.0.2.7:80",
            "cams.example.org",
            "cams.example.org.:443",
        ] {
            assert!(host_allowed(ok, &extra), "{ok}");
        }
        for bad in [
            "attacker.example:8080",
            "127.0.0.1.nip.io:8080",
            "localhost.attacker.example",
            "",
            "[::1",
            "[evil]:80",
            "127.0.0.1:80:80",
            "host:port",
            "a b",
            "cams.example.org.evil",
        ] {
            assert!(!host_allowed(bad, &extra), "{bad}");
        }
    }

    #[test]
    fn other_origins_are_refused_and_navigation_is_not() {
        let none: &[String] = &[];
        let post = Method::POST;
        let own = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(!cross_site(&post, "/api/v1/streams", &own, none));
        for origin in [
            "http://attacker.example",
            "null",
            "http://127.0.0.1:9999",
            "file://",
            "http://127.0.0.1:8080.evil",
        ] {
            let h = headers(&[("host", "127.0.0.1:8080"), ("origin", origin)]);
            assert!(cross_site(&post, "/api/v1/streams", &h, none), "{origin}");
            assert!(
                cross_site(&Method::GET, "/api/v1/streams", &h, none),
                "{origin}"
            );
        }
        // An image or no-cors fetch from another site says so in Sec-Fetch-Site.
        for site in ["cross-site", "same-site"] {
            let h = headers(&[
                ("host", "127.0.0.1:8080"),
                ("sec-fetch-site", site),
                ("sec-fetch-mode", "no-cors"),
            ]);
            for path in [
                "/api/v1/streams/a/snapshot.jpg",
                "/api/v1/streams/a/live.mjpeg",
                "/api/v1/events/a-1-1/thumbnail.jpg",
            ] {
                assert!(cross_site(&Method::GET, path, &h, none), "{path}");
            }
            // A link followed to the page is fine.
            let nav = headers(&[
                ("host", "127.0.0.1:8080"),
                ("sec-fetch-site", site),
                ("sec-fetch-mode", "navigate"),
            ]);
            assert!(!cross_site(&Method::GET, "/", &nav, none));
            assert!(cross_site(&Method::GET, "/api/v1/streams", &nav, none));
        }
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(!cross_site(&Method::GET, "/api/v1/streams", &same, none));
        // Behind a proxy that rewrites Host, the public name is given with --http-host.
        let proxied = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://cams.example.org"),
        ]);
        assert!(cross_site(&post, "/api/v1/reload", &proxied, none));
        assert!(!cross_site(
            &post,
            "/api/v1/reload",
            &proxied,
            &["cams.example.org".to_owned()]
        ));
    }

    #[test]
    fn tokens() {
        let t = Token::parse("0123456789abcdef0123\n", "test").unwrap();
        assert!(!format!("{t:?}").contains("0123"));
        assert!(authorized(
            &headers(&[("authorization", "Bearer 0123456789abcdef0123")]),
            &t
        ));
        assert!(authorized(
            &headers(&[("authorization", "bearer 0123456789abcdef0123 ")]),
            &t
        ));
        for bad in [
            "Bearer 0123456789abcdef012",
            "Bearer 0123456789abcdef01234",
            "Basic 0123456789abcdef0123",
            "Bearer",
            "",
            "0123456789abcdef0123",
        ] {
            assert!(
                !authorized(&headers(&[("authorization", bad)]), &t),
                "{bad}"
            );
        }
        assert!(!authorized(&HeaderMap::new(), &t));
        let short = Token::parse("short", "the file").unwrap_err();
        assert!(
            short.contains("16") && !short.contains("short\""),
            "{short}"
        );
        assert!(Token::parse("with a blank inside it", "x").is_err());
    }

    #[test]
    fn state_changes_need_json() {
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        let text = headers(&[("content-type", "text/plain")]);
        let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        let none = HeaderMap::new();
        assert!(content_type_ok(&Method::POST, &json));
        for h in [&text, &form, &none] {
            assert!(!content_type_ok(&Method::POST, h));
            assert!(!content_type_ok(&Method::PUT, h));
        }
        assert!(content_type_ok(&Method::DELETE, &none));
        assert!(content_type_ok(&Method::DELETE, &json));
        assert!(!content_type_ok(&Method::DELETE, &text));
        assert!(content_type_ok(&Method::GET, &text));
    }

    #[test]
    fn open_routes() {
        let a = Access::default();
        assert!(open_route(&Method::GET, "/healthz", &a));
        assert!(open_route(&Method::GET, "/", &a));
        assert!(!open_route(&Method::GET, "/metrics", &a));
        assert!(!open_route(&Method::POST, "/readyz", &a));
        assert!(!open_route(&Method::GET, "/api/v1/streams", &a));
        let public = Access {
            metrics_public: true,
            ..Access::default()
        };
        assert!(open_route(&Method::GET, "/metrics", &public));
    }
}
