//! A typed client of the admin API, for the command line, the demo and tests.

use crate::api::*;
use crate::roles::Role;
use anyhow::Context;
use fieldcase_core::protocol::ErrorBody;
use fieldcase_core::sync::Pin;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// How long an admin call waits for the server.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The server answered with an error.
#[derive(Debug, thiserror::Error)]
#[error("the server refused ({status}): {}", body.message)]
pub struct ServerRefused {
    pub status: u16,
    pub body: ErrorBody,
}

pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminClient {
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{}", self.base, path);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the server's answer")?;
        if status.is_success() {
            serde_json::from_slice(&bytes).context("the server's answer is not what was expected")
        } else {
            let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
                error: fieldcase_core::protocol::ErrorCode::Internal,
                message: format!("HTTP {status} without an error body"),
            });
            Err(ServerRefused {
                status: status.as_u16(),
                body,
            }
            .into())
        }
    }
}

impl AdminClient {
    /// `GET path?query` answered with any content type: the body and its content type. An
    /// error reply becomes [`ServerRefused`], as with [`AdminClient::call`].
    pub async fn get_raw(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<(String, Vec<u8>)> {
        let url = format!("{}{}", self.base, path);
        let response = self
            .http
            .get(&url)
            .query(query)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response
            .bytes()
            .await
            .context("reading the server's answer")?;
        if status.is_success() {
            return Ok((content_type, bytes.to_vec()));
        }
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
            error: fieldcase_core::protocol::ErrorCode::Internal,
            message: format!("HTTP {status} without an error body"),
        });
        Err(ServerRefused {
            status: status.as_u16(),
            body,
        }
        .into())
    }

    /// A client of the server at `base_url` with an admin token.
    pub fn new(base_url: &str, token: String) -> anyhow::Result<AdminClient> {
        AdminClient::pinned(base_url, token, &[])
    }

    /// A client that trusts only a server TLS key with one of `pins` (none: the public roots),
    /// with TLS 1.2 or newer, as devices connect ([`fieldcase_core::sync::trust`]).
    pub fn pinned(base_url: &str, token: String, pins: &[Pin]) -> anyhow::Result<AdminClient> {
        Ok(AdminClient {
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .use_preconfigured_tls(fieldcase_core::sync::trust::tls_config(pins))
                .build()?,
            base: base_url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    pub async fn create_agency(&self, code: &str, name: &str) -> anyhow::Result<AgencyBody> {
        let body = NewAgencyBody {
            code: code.to_owned(),
            name: name.to_owned(),
        };
        self.call(Method::POST, "/v1/admin/agencies", Some(&body))
            .await
    }

    pub async fn create_user(
        &self,
        agency: &str,
        role: Role,
        display_name: &str,
    ) -> anyhow::Result<UserBody> {
        let body = NewUserBody {
            agency: agency.to_owned(),
            role,
            display_name: display_name.to_owned(),
        };
        self.call(Method::POST, "/v1/admin/users", Some(&body))
            .await
    }

    pub async fn enrollment_code(
        &self,
        user_id: &str,
        expires_hours: Option<u32>,
    ) -> anyhow::Result<EnrollmentCodeBody> {
        let path = format!("/v1/admin/users/{user_id}/enrollment-codes");
        self.call(
            Method::POST,
            &path,
            Some(&NewEnrollmentCodeBody { expires_hours }),
        )
        .await
    }

    pub async fn list_devices(&self) -> anyhow::Result<Vec<DeviceBody>> {
        self.call(Method::GET, "/v1/admin/devices", None::<&()>)
            .await
    }

    pub async fn revoke_device(&self, device_id: &str) -> anyhow::Result<DeviceBody> {
        let path = format!("/v1/admin/devices/{device_id}/revoke");
        self.call(Method::POST, &path, None::<&()>).await
    }

    /// Publishes a form version (a checked definition) for `agency`, or for the token's own
    /// agency when `None`.
    pub async fn publish_form(
        &self,
        form: &fieldcase_core::forms::FormDefinition,
        agency: Option<&str>,
    ) -> anyhow::Result<FormBody> {
        let path = match agency {
            Some(agency) => format!("/v1/admin/forms?agency={agency}"),
            None => "/v1/admin/forms".to_owned(),
        };
        self.call(Method::POST, &path, Some(&form.to_json())).await
    }

    /// Publishes a network-wide form version: for every agency, now and later.
    pub async fn publish_network_form(
        &self,
        form: &fieldcase_core::forms::FormDefinition,
    ) -> anyhow::Result<FormBody> {
        self.call(
            Method::POST,
            "/v1/admin/forms?network=true",
            Some(&form.to_json()),
        )
        .await
    }

    /// The published form versions the token may see (of one agency, when given).
    pub async fn list_forms(&self, agency: Option<&str>) -> anyhow::Result<Vec<FormBody>> {
        let path = match agency {
            Some(agency) => format!("/v1/admin/forms?agency={agency}"),
            None => "/v1/admin/forms".to_owned(),
        };
        self.call(Method::GET, &path, None::<&()>).await
    }
}
