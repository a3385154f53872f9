//! Which server addresses a device will talk to: HTTPS, or plain HTTP to this machine only.
//!
//! A device sends its one-time enrollment code, then its credential and sealed case data, to
//! the server it is given. Over plain HTTP anyone on the path (a café's Wi-Fi, a rogue access
//! point, a border checkpoint's network) reads the credential and can act as the device. So
//! [`check_server_url`] accepts `https://` anywhere and `http://` only for a loopback address
//! (127.0.0.0/8, `::1`, `localhost`), where nothing leaves the machine, unless the caller
//! explicitly opts out with [`ConnectOptions::allow_insecure_http`] (tests and development on a
//! LAN). The check runs before any connection is made, so a refused address has been sent
//! nothing.
//!
//! Loopback is decided from the address as written, never from a DNS answer: a name other
//! than `localhost` is not loopback even if it resolves to 127.0.0.1, since whoever controls
//! the resolver controls that answer. Certificates are checked (and pinned) by the TLS
//! configuration, [`super::trust`].

use std::net::IpAddr;

/// How a sync client or an enrollment may connect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Allow `http://` to a server that is not on this machine. Off by default: credentials and
    /// case data would cross the network unencrypted. For tests and development only.
    pub allow_insecure_http: bool,
}

impl ConnectOptions {
    /// The explicit opt-out: plain HTTP to any host. Tests and development only.
    pub fn allowing_insecure_http() -> Self {
        ConnectOptions {
            allow_insecure_http: true,
        }
    }

    /// Whether these options allow `base_url`, for callers that want to refuse an address
    /// before asking anything else of the user. Clients and enrollment check it themselves.
    pub fn check(&self, base_url: &str) -> Result<(), ServerUrlError> {
        check_server_url(base_url, *self).map(|_| ())
    }
}

/// Why a server address was refused. Says what is wrong, never repeats the address (it may
/// carry a user name or a token in its query).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerUrlError {
    #[error("the server address is not a valid http(s) URL")]
    NotAUrl,
    #[error(
        "the server address uses plain http to another machine: credentials and case data \
         would cross the network unencrypted; use an https:// address"
    )]
    InsecureHttp,
}

/// How a checked server address may be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transport {
    /// `https://`: the HTTP client refuses any plain-HTTP hop, redirects included.
    Https,
    /// `http://` to loopback, or anywhere with the explicit opt-out.
    PlainHttp,
}

/// Checks `base_url` against the policy above. Cheap and offline.
pub(super) fn check_server_url(
    base_url: &str,
    options: ConnectOptions,
) -> Result<Transport, ServerUrlError> {
    let url = reqwest::Url::parse(base_url.trim()).map_err(|_| ServerUrlError::NotAUrl)?;
    let host = url.host_str().ok_or(ServerUrlError::NotAUrl)?;
    match url.scheme() {
        "https" => Ok(Transport::Https),
        "http" if options.allow_insecure_http || is_loopback(host) => Ok(Transport::PlainHttp),
        "http" => Err(ServerUrlError::InsecureHttp),
        _ => Err(ServerUrlError::NotAUrl),
    }
}

/// `localhost`, an address in 127.0.0.0/8, or `::1` (written `[::1]` in a URL).
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<Transport, ServerUrlError> {
        check_server_url(url, ConnectOptions::default())
    }

    #[test]
    fn https_is_accepted_anywhere() {
        for url in [
            "https://sync.example.org",
            "https://192.0.2.7:8443/",
            "https://[2001:db8::1]/",
        ] {
            assert_eq!(check(url), Ok(Transport::Https), "{url}");
        }
    }

    #[test]
    fn plain_http_is_accepted_for_loopback_only() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.8.9.10/",
            "http://localhost:3000",
            "http://LOCALHOST",
            "http://[::1]:8080/",
        ] {
            assert_eq!(check(url), Ok(Transport::PlainHttp), "{url}");
        }
        for url in [
            "http://192.0.2.7:8080",
            "http://10.0.0.1",
            "http://sync.example.org",
            // Resolves to loopback on many machines, but a DNS answer is not proof.
            "http://localhost.example.org",
            "http://127.0.0.1.nip.io",
            "http://[2001:db8::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0:8080",
        ] {
            assert_eq!(check(url), Err(ServerUrlError::InsecureHttp), "{url}");
        }
    }

    #[test]
    fn the_opt_out_allows_plain_http_anywhere() {
        assert_eq!(
            check_server_url(
                "http://192.0.2.7:8080",
                ConnectOptions::allowing_insecure_http()
            ),
            Ok(Transport::PlainHttp)
        );
    }

    #[test]
    fn other_schemes_and_garbage_are_not_urls() {
        for url in [
            "",
            "sync.example.org",
            "ftp://127.0.0.1",
            "file:///tmp/x",
            "http://",
        ] {
            assert_eq!(check(url), Err(ServerUrlError::NotAUrl), "{url}");
        }
    }
}
