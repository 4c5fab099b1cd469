//! One HTTP client per media server: base URL, the auth header carrying the secret, a
//! timeout on every request, and one place that maps transport and status failures to
//! [`LinkError`]. Query strings are built with `url`'s encoder; secrets never go in a URL.

use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;

use super::{LinkError, Secret};

/// A client for one server.
#[derive(Clone)]
pub struct Http {
    http: reqwest::Client,
    base: String,
    auth_header: &'static str,
    secret: Secret,
    extra: Vec<(&'static str, String)>,
    timeout: Duration,
}

impl Http {
    /// A client for `base`, sending `secret` in `auth_header` with every request, and
    /// `Accept: application/json`.
    pub fn new(base: &str, auth_header: &'static str, secret: Secret, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("reqwest client with rustls");
        Self { http, base: base.trim_end_matches('/').to_owned(), auth_header, secret, extra: Vec::new(), timeout }
    }

    /// Add a header sent with every request (product names the server logs).
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of `path` with `query` encoded.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<String, LinkError> {
        let mut url = url::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| LinkError::Invalid(format!("{}{path}: {e}", self.base)))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url.into())
    }

    /// Send a request; the body of a 2xx answer. 401/403, other non-2xx, transport errors and
    /// time-outs become their [`LinkError`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        json: Option<&serde_json::Value>,
    ) -> Result<bytes::Bytes, LinkError> {
        let url = self.url(path, query)?;
        let fail = |source: reqwest::Error| {
            if source.is_timeout() {
                LinkError::Timeout { url: url.clone(), timeout: self.timeout }
            } else {
                LinkError::Unreachable { url: url.clone(), source: source.without_url() }
            }
        };
        let mut req = self
            .http
            .request(method, &url)
            .header("Accept", "application/json")
            .header(self.auth_header, self.secret.expose());
        for (name, value) in &self.extra {
            req = req.header(*name, value);
        }
        if let Some(body) = json {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(fail)?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(LinkError::Unauthorized { url, status });
        }
        let ok = resp.status().is_success();
        let body = resp.bytes().await.map_err(fail)?;
        if !ok {
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            let text = text.replace(self.secret.expose(), "…");
            return Err(LinkError::Status { url, status, body: text.trim().to_owned() });
        }
        Ok(body)
    }

    /// GET and decode JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, LinkError> {
        let body = self.send(Method::GET, path, query, None).await?;
        self.decode(path, &body)
    }

    /// Decode a JSON answer to `path`.
    pub fn decode<T: DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, LinkError> {
        serde_json::from_slice(body)
            .map_err(|e| LinkError::Garbage { url: format!("{}{path}", self.base), reason: e.to_string() })
    }
}
