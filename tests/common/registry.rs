//! A small auth-required sparse Cargo registry on 127.0.0.1, for driving the real `cargo` against
//! credd: the sparse index, downloads and the publish / yank / unyank web API, every route
//! (except the login page) behind `Authorization: <token>`. HTTP/1.1, one thread per connection,
//! `Connection: close`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::httpserver::{Reply, Request, Response, Server};

/// One request the registry received.
#[derive(Debug, Clone)]
pub struct Logged {
    /// `GET`, `PUT`, `DELETE`…
    pub method: String,
    /// The request target, e.g. `/index/config.json`.
    pub path: String,
    /// An `Authorization` header was present.
    pub had_authorization: bool,
    /// It held exactly the registry's token.
    pub authorization_ok: bool,
    /// The HTTP status the registry answered with.
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
}

/// A running registry; stopped when dropped.
pub struct Registry {
    shared: Arc<Shared>,
    _server: Server,
}

/// Which `Authorization` values a registry accepts.
pub type TokenCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

struct Shared {
    token: TokenCheck,
    /// When set, the only token the web API (publish, yank, unyank) accepts.
    publish_token: Option<String>,
    base: String,
    log: Mutex<Vec<Logged>>,
    /// Lower-cased crate name → index lines.
    index: Mutex<BTreeMap<String, Vec<Value>>>,
    /// (lower-cased name, version) → .crate bytes.
    crates: Mutex<BTreeMap<(String, String), Vec<u8>>>,
}

impl Registry {
    /// Starts a registry on 127.0.0.1 that accepts only `token`.
    pub fn start(token: &str) -> Registry {
        Self::start_with(exactly(token), None)
    }

    /// Starts a registry that accepts whatever `check` passes, e.g. only the currently valid
    /// tokens of a [`super::tokenserver::TokenServer`].
    pub fn start_checked(check: TokenCheck) -> Registry {
        Self::start_with(check, None)
    }

    /// Starts a registry whose index and downloads accept only `read` and whose web API accepts
    /// only `publish`: a registry with a read-only and a publish-scoped token.
    pub fn start_split(read: &str, publish: &str) -> Registry {
        Self::start_with(exactly(read), Some(publish))
    }

    fn start_with(token: TokenCheck, publish_token: Option<&str>) -> Registry {
        let mut shared = None;
        let server = Server::start(None, |addr| {
            let made = Arc::new(Shared {
                token,
                publish_token: publish_token.map(str::to_string),
                base: format!("http://{addr}"),
                log: Mutex::new(Vec::new()),
                index: Mutex::new(BTreeMap::new()),
                crates: Mutex::new(BTreeMap::new()),
            });
            shared = Some(Arc::clone(&made));
            Arc::new(move |request: &Request| Reply::Send(route(&made, request)))
        });
        Registry {
            shared: shared.unwrap(),
            _server: server,
        }
    }

    /// `sparse+http://127.0.0.1:PORT/index/`.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/index/", self.shared.base)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.shared.base
    }

    /// The login page named in `WWW-Authenticate`.
    pub fn login_url(&self) -> String {
        format!("{}/me", self.shared.base)
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.shared.log.lock().unwrap().clear();
    }

    /// The index lines of crate `name` (empty when unknown).
    pub fn index_lines(&self, name: &str) -> Vec<Value> {
        self.shared
            .index
            .lock()
            .unwrap()
            .get(&name.to_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// Whether version `vers` of `name` is yanked (`None` when it does not exist).
    pub fn yanked(&self, name: &str, vers: &str) -> Option<bool> {
        self.index_lines(name)
            .iter()
            .find(|line| line["vers"] == vers)
            .map(|line| line["yanked"].as_bool().unwrap())
    }

    /// Adds a crate directly, as a publish would (for `.crate` files made by `cargo package`).
    pub fn insert_crate(&self, name: &str, vers: &str, deps: Vec<Value>, crate_bytes: Vec<u8>) {
        let line = json!({
            "name": name,
            "vers": vers,
            "deps": deps,
            "cksum": sha256_hex(&crate_bytes),
            "features": {},
            "yanked": false,
        });
        self.shared.add(line, crate_bytes);
    }
}

impl Shared {
    fn add(&self, line: Value, crate_bytes: Vec<u8>) {
        let name = line["name"].as_str().unwrap().to_lowercase();
        let vers = line["vers"].as_str().unwrap().to_string();
        self.crates
            .lock()
            .unwrap()
            .insert((name.clone(), vers.clone()), crate_bytes);
        let mut index = self.index.lock().unwrap();
        let lines = index.entry(name).or_default();
        lines.retain(|l| l["vers"] != vers.as_str());
        lines.push(line);
    }

    fn set_yanked(&self, name: &str, vers: &str, yanked: bool) -> bool {
        let mut index = self.index.lock().unwrap();
        let Some(lines) = index.get_mut(&name.to_lowercase()) else {
            return false;
        };
        let Some(line) = lines.iter_mut().find(|l| l["vers"] == vers) else {
            return false;
        };
        line["yanked"] = Value::Bool(yanked);
        true
    }
}

fn exactly(token: &str) -> TokenCheck {
    let token = token.to_string();
    Arc::new(move |value| value == token)
}

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The sparse-index path of `name` under `/index/`: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`.
pub fn index_path(name: &str) -> String {
    let name = name.to_lowercase();
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

fn route(shared: &Shared, request: &Request) -> Response {
    let at = Instant::now();
    let authorization = request.header("Authorization");
    let authorized = authorization.is_some_and(|value| match &shared.publish_token {
        Some(publish) if request.path.starts_with("/api/") => value == publish,
        _ => (shared.token)(value),
    });
    let response = respond(shared, request, authorized, authorization.is_some());
    shared.log.lock().unwrap().push(Logged {
        method: request.method.clone(),
        path: request.path.clone(),
        had_authorization: authorization.is_some(),
        authorization_ok: authorized,
        status: response.status,
        at,
    });
    response
}

fn respond(
    shared: &Shared,
    request: &Request,
    authorized: bool,
    had_authorization: bool,
) -> Response {
    let path = request.path.split('?').next().unwrap_or("");
    if path == "/me" {
        return Response::text(200, &format!("visit {}/me for a token\n", shared.base));
    }
    let is_api = path.starts_with("/api/");
    if !authorized {
        if is_api && had_authorization {
            return Response::json(403, json!({"errors": [{"detail": "token rejected"}]}));
        }
        let mut response = Response::text(401, "authorization required\n");
        response.headers.push((
            "WWW-Authenticate",
            format!("Cargo login_url=\"{}/me\"", shared.base),
        ));
        return response;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["index", "config.json"]) => Response::json(
            200,
            json!({
                "dl": format!("{}/dl", shared.base),
                "api": shared.base,
                "auth-required": true,
            }),
        ),
        ("GET", ["index", rest @ ..]) => {
            let Some(name) = rest.last() else {
                return Response::text(404, "not found\n");
            };
            if *name != name.to_lowercase() || rest.join("/") != index_path(name) {
                return Response::text(404, "not found\n");
            }
            match shared.index.lock().unwrap().get(*name) {
                Some(lines) if !lines.is_empty() => {
                    let mut body = String::new();
                    for line in lines {
                        body.push_str(&line.to_string());
                        body.push('\n');
                    }
                    Response::new(200, "text/plain", body)
                }
                _ => Response::text(404, "not found\n"),
            }
        }
        ("GET", ["dl", name, vers, "download"]) => {
            let key = (name.to_lowercase(), vers.to_string());
            match shared.crates.lock().unwrap().get(&key) {
                Some(bytes) => Response::new(200, "application/octet-stream", bytes.clone()),
                None => Response::text(404, "not found\n"),
            }
        }
        ("PUT", ["api", "v1", "crates", "new"]) => match publish(shared, &request.body) {
            Ok(()) => Response::json(
                200,
                json!({"warnings": {"invalid_categories": [], "invalid_badges": [], "other": []}}),
            ),
            Err(detail) => Response::json(400, json!({"errors": [{"detail": detail}]})),
        },
        ("DELETE", ["api", "v1", "crates", name, vers, "yank"]) => yank(shared, name, vers, true),
        ("PUT", ["api", "v1", "crates", name, vers, "unyank"]) => yank(shared, name, vers, false),
        _ => Response::text(404, "not found\n"),
    }
}

fn yank(shared: &Shared, name: &str, vers: &str, yanked: bool) -> Response {
    if shared.set_yanked(name, vers, yanked) {
        Response::json(200, json!({"ok": true}))
    } else {
        Response::json(
            404,
            json!({"errors": [{"detail": format!("no such crate {name}@{vers}")}]}),
        )
    }
}

/// Parses a `cargo publish` body: u32 LE length + metadata JSON + u32 LE length + .crate bytes.
fn publish(shared: &Shared, body: &[u8]) -> Result<(), String> {
    fn take<'a>(body: &mut &'a [u8]) -> Result<&'a [u8], String> {
        if body.len() < 4 {
            return Err("truncated publish body".into());
        }
        let length = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
        if body.len() < 4 + length {
            return Err("truncated publish body".into());
        }
        let part = &body[4..4 + length];
        *body = &body[4 + length..];
        Ok(part)
    }
    let mut rest = body;
    let metadata: Value =
        serde_json::from_slice(take(&mut rest)?).map_err(|e| format!("bad metadata: {e}"))?;
    let crate_bytes = take(&mut rest)?.to_vec();
    let name = metadata["name"].as_str().ok_or("no name")?;
    let vers = metadata["vers"].as_str().ok_or("no vers")?;
    let deps: Vec<Value> = metadata["deps"]
        .as_array()
        .map(|deps| deps.iter().map(index_dep).collect())
        .unwrap_or_default();
    // Features that use `dep:` or `?/` syntax belong in `features2` with schema version 2.
    let mut features = serde_json::Map::new();
    let mut features2 = serde_json::Map::new();
    if let Some(all) = metadata["features"].as_object() {
        for (feature, values) in all {
            let new_syntax = values.as_array().is_some_and(|values| {
                values.iter().any(|v| {
                    v.as_str()
                        .is_some_and(|v| v.starts_with("dep:") || v.contains("?/"))
                })
            });
            let target = if new_syntax {
                &mut features2
            } else {
                &mut features
            };
            target.insert(feature.clone(), values.clone());
        }
    }
    let mut line = json!({
        "name": name,
        "vers": vers,
        "deps": deps,
        "cksum": sha256_hex(&crate_bytes),
        "features": features,
        "yanked": false,
    });
    if !features2.is_empty() {
        line["features2"] = Value::Object(features2);
        line["v"] = json!(2);
    }
    if let Some(links) = metadata["links"].as_str() {
        line["links"] = json!(links);
    }
    if let Some(rust_version) = metadata["rust_version"].as_str() {
        line["rust_version"] = json!(rust_version);
    }
    shared.add(line, crate_bytes);
    Ok(())
}

/// A publish-metadata dependency as an index dependency.
fn index_dep(dep: &Value) -> Value {
    let mut out = json!({
        "name": dep["name"],
        "req": dep["version_req"],
        "features": dep.get("features").cloned().unwrap_or(json!([])),
        "optional": dep.get("optional").cloned().unwrap_or(json!(false)),
        "default_features": dep.get("default_features").cloned().unwrap_or(json!(true)),
        "target": dep.get("target").cloned().unwrap_or(Value::Null),
        "kind": dep.get("kind").cloned().unwrap_or(json!("normal")),
        "registry": dep.get("registry").cloned().unwrap_or(Value::Null),
    });
    if let Some(renamed) = dep.get("explicit_name_in_toml").and_then(Value::as_str) {
        out["package"] = dep["name"].clone();
        out["name"] = json!(renamed);
    }
    out
}
