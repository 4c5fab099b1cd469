//! A tiny HTTP client for the web API tests: keeps the session cookie and CSRF token by
//! hand (so tests control exactly what is sent).
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// One browser-like API user.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

/// An answer: status, headers, body as JSON (Null when not JSON) and as bytes.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl Api {
    pub fn new(base: String) -> Self {
        Self { base, http: reqwest::Client::new(), cookie: None, csrf: None }
    }

    /// Send a request; `csrf` adds the stored CSRF token, `body` is sent as JSON.
    pub async fn send(&mut self, method: Method, path: &str, body: Option<&Value>, csrf: bool) -> Answer {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", format!("rv_session={c}"));
        }
        if csrf && let Some(t) = &self.csrf {
            req = req.header("X-CSRF-Token", t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        if let Some(sc) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            let value = sc.split(';').next().unwrap().trim_start_matches("rv_session=").to_owned();
            self.cookie = (!value.is_empty()).then_some(value);
        }
        let bytes = res.bytes().await.expect("body").to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(t) = json["csrf"].as_str() {
            self.csrf = Some(t.to_owned());
        }
        Answer { status, headers, json, bytes }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None, false).await
    }

    /// A state-changing request with the CSRF token.
    pub async fn change(&mut self, method: Method, path: &str, body: &Value) -> Answer {
        self.send(method, path, Some(body), true).await
    }

    /// First-run setup with `password`; panics unless it succeeds.
    pub async fn setup(&mut self, password: &str) {
        let a = self.send(Method::POST, "/api/setup", Some(&serde_json::json!({ "password": password })), false).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    }

    pub async fn login(&mut self, password: &str) -> Answer {
        self.send(Method::POST, "/api/login", Some(&serde_json::json!({ "password": password })), false).await
    }
}
