//! A real server on a loopback port the OS chose, real SQLite files in a temp dir, and small
//! helpers to call it as an admin or as a device.

use fieldcase_core::protocol::{
    decode_reply, encode_body, Cursor, EnrollResponse, ErrorBody, SyncRequest, SyncResponse,
    CONTENT_TYPE, PROTOCOL_VERSION,
};
use fieldcase_core::{DeviceId, FieldChange, Hlc, OpId, Operation, RecordId, RecordKind};
use fieldcase_server::time::ManualTimeSource;
use fieldcase_server::{RunningServer, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// Which storage a test binary's servers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file in the data directory.
    Sqlite,
    /// A fresh PostgreSQL database per test (`FIELDCASE_TEST_DATABASE_URL`).
    Postgres,
}

pub struct Harness {
    pub server: RunningServer,
    /// Keeps the data directory alive for the test.
    pub _dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub time: Arc<ManualTimeSource>,
    /// The PostgreSQL database of the test, dropped after the server (declared last).
    pub _database: Option<fieldcase_server::storage::postgres::testing::TempDatabase>,
}

pub struct TestDevice {
    pub id: DeviceId,
    pub credential: String,
    pub user_id: String,
    pub agency: String,
}

/// A reply as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "status {} body is not JSON: {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The reply must be an error with a JSON `ErrorBody`.
    pub fn error(&self) -> ErrorBody {
        assert!(
            self.status.is_client_error() || self.status.is_server_error(),
            "expected an error, got {}",
            self.status
        );
        assert!(
            self.content_type.starts_with("application/json"),
            "error content type {:?}",
            self.content_type
        );
        serde_json::from_slice(&self.body).expect("an ErrorBody")
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    /// A server whose config `adjust` changed first (the clock stays the harness's).
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let time = Arc::new(ManualTimeSource::new(fieldcase_core::hlc::now_ms()));
        let mut config = ServerConfig::new(dir.path().join("data"));
        adjust(&mut config);
        config.time = time.clone();
        let database = match crate::BACKEND {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let database = tokio::task::spawn_blocking(
                    fieldcase_server::storage::postgres::testing::TempDatabase::create,
                )
                .await
                .unwrap();
                config.database_url = Some(database.url());
                Some(database)
            }
        };
        let server = fieldcase_server::Server::spawn(config).await.unwrap();
        let admin_token = server
            .admin_token()
            .expect("first start writes an admin token");
        Harness {
            server,
            _dir: dir,
            http: reqwest::Client::new(),
            admin_token,
            time,
            _database: database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.base_url, path)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(ct) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, ct);
        }
        let response = request.body(body).send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response.bytes().await.unwrap().to_vec();
        Reply {
            status,
            content_type,
            body,
        }
    }

    pub async fn json_call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        match body {
            Some(body) => {
                self.send(
                    method,
                    path,
                    token,
                    Some("application/json"),
                    serde_json::to_vec(&body).unwrap(),
                )
                .await
            }
            None => self.send(method, path, token, None, Vec::new()).await,
        }
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.json_call(method, path, Some(&self.admin_token), body)
            .await
    }

    pub async fn add_agency(&self, code: &str) {
        let reply = self
            .admin(
                Method::POST,
                "/v1/admin/agencies",
                Some(json!({"code": code, "name": format!("Agency {code}")})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    }

    pub async fn add_user(&self, agency: &str, role: &str) -> String {
        let reply = self
            .admin(
                Method::POST,
                "/v1/admin/users",
                Some(json!({"agency": agency, "role": role, "display_name": "Staff Member"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    /// An admin token limited to `agency`, issued by the system admin.
    pub async fn agency_admin_token(&self, agency: &str) -> String {
        let reply = self
            .admin(
                Method::POST,
                "/v1/admin/tokens",
                Some(json!({"agency": agency, "label": format!("{agency} admin")})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
        reply.json()["token"].as_str().unwrap().to_owned()
    }

    pub async fn issue_code(&self, user_id: &str, body: Value) -> Reply {
        self.admin(
            Method::POST,
            &format!("/v1/admin/users/{user_id}/enrollment-codes"),
            Some(body),
        )
        .await
    }

    pub async fn code_for(&self, user_id: &str) -> String {
        let reply = self.issue_code(user_id, json!({})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
        reply.json()["code"].as_str().unwrap().to_owned()
    }

    pub async fn enroll(&self, code: &str) -> Reply {
        self.json_call(
            Method::POST,
            "/v1/enroll",
            None,
            Some(json!({"code": code, "device_label": "field phone"})),
        )
        .await
    }

    /// A new caseworker and their enrolled phone, in an existing agency.
    pub async fn device(&self, agency: &str) -> TestDevice {
        let user_id = self.add_user(agency, "caseworker").await;
        let code = self.code_for(&user_id).await;
        let reply = self.enroll(&code).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        let enrolled: EnrollResponse = serde_json::from_slice(&reply.body).unwrap();
        TestDevice {
            id: enrolled.device_id,
            credential: enrolled.credential,
            user_id,
            agency: agency.to_owned(),
        }
    }

    pub async fn sync_raw(&self, credential: &str, request: &SyncRequest) -> Reply {
        self.send(
            Method::POST,
            "/v1/sync",
            Some(credential),
            Some(CONTENT_TYPE),
            encode_body(request),
        )
        .await
    }

    /// A sync that must succeed.
    pub async fn sync(
        &self,
        device: &TestDevice,
        ops: Vec<Operation>,
        cursor: Option<Cursor>,
        pull_limit: Option<u32>,
    ) -> SyncResponse {
        let reply = self
            .sync_raw(
                &device.credential,
                &SyncRequest {
                    store: None,
                    protocol: PROTOCOL_VERSION,
                    ops,
                    cursor,
                    pull_limit,
                    commands: vec![],
                    handoff: None,
                },
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "sync failed: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.content_type, CONTENT_TYPE);
        decode_reply(&reply.body).expect("a SyncResponse")
    }

    /// Pulls everything visible to `device` from the start, following `more`.
    pub async fn pull_all(&self, device: &TestDevice) -> Vec<Operation> {
        let mut cursor = None;
        let mut ops = Vec::new();
        loop {
            let page = self.sync(device, vec![], cursor, None).await;
            ops.extend(page.ops);
            cursor = Some(page.next_cursor);
            if !page.more {
                return ops;
            }
        }
    }
}

pub fn fields(pairs: &[(&str, Value)]) -> std::collections::BTreeMap<String, FieldChange> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), FieldChange::fresh(v.clone())))
        .collect()
}

pub fn op(
    device: DeviceId,
    seq: u64,
    kind: RecordKind,
    record: RecordId,
    pairs: &[(&str, Value)],
) -> Operation {
    Operation {
        op_id: OpId { device, seq },
        kind,
        record_id: record,
        hlc: Hlc {
            wall_ms: 1_700_000_000_000 + seq,
            counter: 0,
            device,
        },
        fields: fields(pairs),
    }
}

pub fn case_op(
    device: &TestDevice,
    seq: u64,
    record: RecordId,
    pairs: &[(&str, Value)],
) -> Operation {
    op(device.id, seq, RecordKind::Case, record, pairs)
}

pub fn note_op(
    device: &TestDevice,
    seq: u64,
    note: RecordId,
    case: RecordId,
    text: &str,
) -> Operation {
    op(
        device.id,
        seq,
        RecordKind::Note,
        note,
        &[
            ("case_id", json!(case.to_string())),
            ("text", json!(text)),
            ("written_on", json!("2024-01-05")),
            ("author", json!(device.user_id)),
        ],
    )
}

pub fn service_op(device: &TestDevice, seq: u64, service: RecordId, case: RecordId) -> Operation {
    op(
        device.id,
        seq,
        RecordKind::Service,
        service,
        &[
            ("case_id", json!(case.to_string())),
            ("service_type", json!("shelter")),
            ("date", json!("2024-01-05")),
            ("provider_agency", json!(device.agency)),
        ],
    )
}
