//! The captive portal fault: a hotel or café network that answers every request itself with
//! an HTML login page and `200 OK`, never reaching the server.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The page a captive portal serves instead of the server's answer.
const PORTAL_PAGE: &str = "<!DOCTYPE html><html><head><title>Wi-Fi login</title></head>\
<body><h1>Welcome</h1><p>Please accept the terms to continue.</p></body></html>";

/// Reads one request (head and `Content-Length` body) and answers it with the portal page,
/// then closes. Reading the whole request first means the close is clean: the device reads
/// the page rather than a reset.
pub(super) async fn answer(mut client: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = find(&request, b"\r\n\r\n") {
            break at + 4;
        }
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let body_len: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = request.len() - head_end;
    while have < body_len {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PORTAL_PAGE}",
        PORTAL_PAGE.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
    // Wait for the device to close its side, so nothing unread turns the close into a reset.
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
