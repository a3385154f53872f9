//! Attacks through what an enrolled device sends: bodies that expand to gigabytes, values the
//! case model refuses, records under the server's ids, clocks far in the future, probes for
//! other agencies' records and clients that trickle their bodies. Each test performs the
//! attack against a real server and checks what it must not achieve.

use crate::common::*;
use fieldcase_core::model::FieldId;
use fieldcase_core::protocol::{
    ErrorBody, ErrorCode, RejectReason, CONTENT_TYPE, MAX_CLOCK_AHEAD_MS,
};
use fieldcase_core::store::form_record_id;
use fieldcase_core::{RecordId, RecordKind};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A push whose one operation sets `sex` to `[0,0,0,…]`, `json_bytes` of it, compressed: a few
/// KB on the wire. Before bounded decoding, the server built a `serde_json::Value` of 32 bytes
/// per 2 bytes of JSON.
fn zero_bomb(device: &TestDevice, json_bytes: usize) -> Vec<u8> {
    let d = device.id;
    let prefix = format!(
        r#"{{"protocol":1,"cursor":null,"ops":[{{"op_id":{{"d":"{d}","s":1}},"kind":"case","record_id":"{}","hlc":{{"w":{},"c":0,"d":"{d}"}},"fields":{{"sex":{{"v":["#,
        RecordId::new(),
        fieldcase_core::hlc::now_ms()
    );
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 19).unwrap();
    encoder.write_all(prefix.as_bytes()).unwrap();
    let chunk = "0,".repeat(512 * 1024);
    for _ in 0..json_bytes / chunk.len() {
        encoder.write_all(chunk.as_bytes()).unwrap();
    }
    encoder.write_all(b"0]}}}]}").unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn concurrent_zero_bombs_are_refused_and_others_still_sync() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let attacker = h.device("iom_uga").await;
    let colleague = h.device("iom_uga").await;
    // 8 MiB of JSON: over every per-value bound, small enough that even the unbounded decoder
    // of old did not take the test machine down (16 × ~130 MB).
    let bomb = zero_bomb(&attacker, 8 * 1024 * 1024);
    assert!(bomb.len() < 16 * 1024, "{} bytes", bomb.len());
    // All at once, one connection each, as 16 phones (or one scripted credential) would.
    let sends: Vec<_> = (0..16)
        .map(|_| {
            let request = h
                .http
                .post(h.url("/v1/sync"))
                .bearer_auth(&attacker.credential)
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .body(bomb.clone());
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                let body: ErrorBody = response.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    for send in sends {
        let (status, error) = send.await.unwrap();
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error.error, ErrorCode::PayloadTooLarge);
        assert!(
            error.message.contains("one field value"),
            "{}",
            error.message
        );
    }
    // Nothing of it was applied, and the agency's devices sync as before.
    let case = RecordId::new();
    let reply = h
        .sync(
            &colleague,
            vec![case_op(&colleague, 1, case, &[("sex", json!("female"))])],
            None,
            None,
        )
        .await;
    assert!(reply.rejections.is_empty());
    let pulled = h.pull_all(&attacker).await;
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0].record_id, case);
}

#[tokio::test]
async fn pushed_records_are_checked_against_the_case_model_and_never_half_applied() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    h.add_agency("other_ngo").await;
    let a = h.device("iom_uga").await;
    let reader = h.device("iom_uga").await;
    let case = RecordId::new();
    let half_valid = case_op(
        &a,
        2,
        RecordId::new(),
        &[
            ("sex", json!("male")),
            ("given_name", json!([0, 0, 0])),
            ("nickname", json!("Amanuel-Tesfaye-1987")),
        ],
    );
    let mut foreign_provider = service_op(&a, 3, RecordId::new(), case);
    foreign_provider
        .fields
        .get_mut("provider_agency")
        .unwrap()
        .value = json!("other_ngo");
    let reply = h
        .sync(
            &a,
            vec![
                case_op(&a, 1, case, &[("sex", json!("female"))]),
                half_valid.clone(),
                foreign_provider.clone(),
                service_op(&a, 4, RecordId::new(), case),
            ],
            None,
            None,
        )
        .await;
    assert_eq!(reply.acked_through, 4);
    let refused: Vec<_> = reply.rejections.iter().map(|r| r.op_id.seq).collect();
    assert_eq!(refused, vec![2, 3]);
    match &reply.rejections[0].reason {
        RejectReason::Invalid { detail } => {
            assert!(
                detail.contains("given_name") && detail.contains("nickname"),
                "{detail}"
            );
            assert!(!detail.contains("Amanuel"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    match &reply.rejections[1].reason {
        RejectReason::Invalid { detail } => assert!(detail.contains("provider_agency"), "{detail}"),
        other => panic!("{other:?}"),
    }
    // Neither the refused case's valid field nor the misattributed service reached anyone.
    let seen: Vec<_> = h
        .pull_all(&reader)
        .await
        .iter()
        .map(|o| o.op_id.seq)
        .collect();
    assert_eq!(seen, vec![1, 4]);
}

fn form_definition(id: &str, version: u32) -> serde_json::Value {
    json!({"id": id, "version": version, "title": {"en": "Intake"}, "default_language": "en",
           "sections": [{"fields": [{"id": "a", "type": "text", "label": {"en": "A"}}]}]})
}

#[tokio::test]
async fn a_case_under_a_form_id_does_not_block_publishing_it() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let squatter = h.device("iom_uga").await;
    let form = FieldId::parse("intake").unwrap();
    // Every id the next publishes will use is public: this agency's version 1, a later
    // agency's copy of the network-wide version 2.
    let targets = [
        form_record_id("iom_uga", &form, 1),
        form_record_id("iom_uga", &form, 2),
        form_record_id("later_ngo", &form, 2),
    ];
    let ops = targets
        .iter()
        .enumerate()
        .map(|(i, id)| case_op(&squatter, i as u64 + 1, *id, &[("sex", json!("male"))]))
        .collect();
    let reply = h.sync(&squatter, ops, None, None).await;
    assert_eq!(reply.rejections.len(), 3, "{:?}", reply.rejections);
    for rejection in &reply.rejections {
        assert_eq!(rejection.reason, RejectReason::Forbidden);
    }

    let agency = h
        .admin(
            Method::POST,
            "/v1/admin/forms?agency=iom_uga",
            Some(form_definition("intake", 1)),
        )
        .await;
    assert!(agency.status.is_success(), "{:?}", agency.json());
    let network = h
        .admin(
            Method::POST,
            "/v1/admin/forms?network=true",
            Some(form_definition("intake", 2)),
        )
        .await;
    assert!(network.status.is_success(), "{:?}", network.json());
    h.add_agency("later_ngo").await;
    let forms: Vec<_> = h
        .pull_all(&squatter)
        .await
        .into_iter()
        .filter(|o| o.kind == RecordKind::Form)
        .map(|o| o.record_id)
        .collect();
    assert_eq!(forms, targets[..2].to_vec());
}

#[tokio::test]
async fn a_clock_far_in_the_future_is_refused_and_wins_nothing() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let rogue = h.device("iom_uga").await;
    let honest = h.device("iom_uga").await;
    let case = RecordId::new();
    let now = fieldcase_core::hlc::now_ms();
    let mut first = case_op(&honest, 1, case, &[("sex", json!("female"))]);
    first.hlc.wall_ms = now;
    h.sync(&honest, vec![first], None, None).await;
    let mut far = case_op(&rogue, 1, case, &[("sex", json!("male"))]);
    far.hlc.wall_ms = now + 10 * 365 * 24 * 3600 * 1000;
    let mut slightly = case_op(&rogue, 2, RecordId::new(), &[("sex", json!("male"))]);
    slightly.hlc.wall_ms = now + MAX_CLOCK_AHEAD_MS / 2;
    let reply = h
        .sync(&rogue, vec![far.clone(), slightly], None, None)
        .await;
    assert_eq!(reply.acked_through, 2);
    assert_eq!(reply.rejections.len(), 1);
    match reply.rejections[0].reason {
        RejectReason::ClockAhead {
            op_time_ms,
            server_time_ms,
        } => {
            assert_eq!(op_time_ms, far.hlc.wall_ms);
            assert!(server_time_ms.abs_diff(now) < 60_000);
        }
        ref other => panic!("{other:?}"),
    }
    // On the wire, a device sees a stable code.
    let wire = serde_json::to_value(&reply.rejections[0].reason).unwrap();
    assert_eq!(wire["code"], "clock_ahead");
    let pulled = h.pull_all(&honest).await;
    assert!(pulled.iter().all(|o| o.op_id != far.op_id));
}

#[tokio::test]
async fn unknown_and_foreign_ids_get_the_same_answer() {
    let h = Harness::start().await;
    h.add_agency("agency_a").await;
    h.add_agency("agency_b").await;
    let a = h.device("agency_a").await;
    let prober = h.device("agency_b").await;
    let published = h
        .admin(
            Method::POST,
            "/v1/admin/forms?agency=agency_a",
            Some(form_definition("intake", 1)),
        )
        .await;
    assert!(published.status.is_success());
    let case_a = RecordId::new();
    h.sync(
        &a,
        vec![case_op(&a, 1, case_a, &[("sex", json!("female"))])],
        None,
        None,
    )
    .await;

    // Has agency A published version 1 of `intake`? Version 9?
    let form = FieldId::parse("intake").unwrap();
    let probe_form = |seq, version| {
        case_op(
            &prober,
            seq,
            form_record_id("agency_a", &form, version),
            &[("sex", json!("male"))],
        )
    };
    // Does A's case exist? A probe that is invalid on its own, on it and on a random id.
    let probe_record = |seq, id| {
        op(
            prober.id,
            seq,
            RecordKind::Note,
            id,
            &[("case_id", json!("not an id"))],
        )
    };
    let reply = h
        .sync(
            &prober,
            vec![
                probe_form(1, 1),
                probe_form(2, 9),
                probe_record(3, case_a),
                probe_record(4, RecordId::new()),
            ],
            None,
            None,
        )
        .await;
    assert_eq!(reply.rejections.len(), 4, "{:?}", reply.rejections);
    let reasons: Vec<_> = reply.rejections.iter().map(|r| &r.reason).collect();
    assert_eq!(
        reasons[0], reasons[1],
        "a published form id answers like an unpublished one"
    );
    assert_eq!(
        reasons[2], reasons[3],
        "another agency's record answers like an unknown one"
    );
}

#[tokio::test]
async fn a_client_trickling_its_body_is_cut_off() {
    let h = Harness::start_with(|config| config.request_timeout = Duration::from_secs(2)).await;
    h.add_agency("iom_uga").await;
    let d = h.device("iom_uga").await;
    let mut stream = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {CONTENT_TYPE}\r\nContent-Length: 100000\r\n\r\n",
        d.credential
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let started = Instant::now();
    // One byte every 200 ms would take 5.5 hours; the test gives the server 15 seconds.
    let trickle = async {
        while started.elapsed() < Duration::from_secs(15) {
            if write.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let answer = async {
        let mut reply = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return reply,
                Ok(n) => {
                    reply.extend_from_slice(&buf[..n]);
                    if reply.windows(4).any(|w| w == b"\r\n\r\n") {
                        return reply;
                    }
                }
            }
        }
    };
    let reply = tokio::select! {
        reply = answer => reply,
        () = trickle => panic!("the server let a client trickle its body for 15 seconds"),
    };
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    // The server serves others meanwhile and after.
    let page = h.sync(&d, vec![], None, None).await;
    assert_eq!(page.acked_through, 0);
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let h = Harness::start_with(|config| config.header_read_timeout = Duration::from_secs(1)).await;
    h.add_agency("iom_uga").await;
    let d = h.device("iom_uga").await;
    let mut stream = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
    stream
        .write_all(b"POST /v1/sync HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let (mut read, mut write) = stream.into_split();
    let started = Instant::now();
    // A header line that never ends, one byte every 200 ms, for at most 15 seconds.
    let trickle = async {
        while started.elapsed() < Duration::from_secs(15) {
            if write.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let closed = async {
        let mut buf = [0u8; 1024];
        // Whatever the server says, if anything, it then closes the connection.
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        () = closed => {}
        () = trickle => panic!("the server let a client trickle its headers for 15 seconds"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let page = h.sync(&d, vec![], None, None).await;
    assert_eq!(page.acked_through, 0);
}
