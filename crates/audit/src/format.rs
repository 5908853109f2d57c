//! Turning a [`LogInput`] into one line of Vault's JSON audit format, hashing
//! sensitive values on the way.
//!
//! Field names, and which fields are omitted when empty, follow Vault's
//! `audit/types.go`; what is hashed follows its `hashstructure.go`:
//!
//! * every string value in request and response `data`, recursively through
//!   objects and arrays (object keys stay clear; numbers, bools and nulls stay
//!   as they are), except values under a key listed in the mount's
//!   `audit_non_hmac_*_keys`;
//! * `client_token` in the request, in `auth` and in the response's `auth`,
//!   and the wrapping token in `wrap_info`;
//! * with `hmac_accessor` (the default) the accessors too: the request's
//!   `client_token_accessor`, `auth.accessor`, and `wrap_info`'s `accessor`
//!   and `wrapped_accessor`;
//! * audited headers configured with `hmac`.
//!
//! `log_raw` turns all of this off. Everything else (paths, policies, token
//! metadata, lease ids, errors, warnings) is logged clear, as Vault does.

use crate::input::{AuditAuth, AuditRequest, AuditResponse, AuditWrapInfo, LogInput};
use crate::{AuditError, AuditSalt};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::SystemTime;
use zeroize::Zeroizing;

/// How a device renders entries (the options common to all Vault devices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatOptions {
    /// Log values in the clear (`log_raw`, default false).
    pub log_raw: bool,
    /// Hash token accessors too (`hmac_accessor`, default true).
    pub hmac_accessor: bool,
    /// For `list` responses, replace `keys` and `key_info` by their counts
    /// (`elide_list_responses`, default false).
    pub elide_list_responses: bool,
    /// Written before each JSON object, on the same line (`prefix`).
    pub prefix: String,
}

impl Default for FormatOptions {
    fn default() -> Self {
        Self {
            log_raw: false,
            hmac_accessor: true,
            elide_list_responses: false,
            prefix: String::new(),
        }
    }
}

/// Renders entries for one device: its salt and its [`FormatOptions`].
#[derive(Debug)]
pub struct Formatter {
    salt: AuditSalt,
    options: FormatOptions,
}

impl Formatter {
    /// A formatter hashing with `salt`.
    pub fn new(salt: AuditSalt, options: FormatOptions) -> Self {
        Self { salt, options }
    }

    /// The options this formatter renders with.
    pub fn options(&self) -> &FormatOptions {
        &self.options
    }

    /// The audit hash of `input` under this device's salt (`sys/audit-hash`).
    /// It does not depend on `log_raw`.
    pub fn hash(&self, input: &str) -> String {
        self.salt.hash(input)
    }

    /// The `"type": "request"` line for `input`: prefix, JSON, newline.
    pub fn format_request(&self, input: &LogInput) -> Result<Zeroizing<Vec<u8>>, AuditError> {
        let entry = Entry {
            time: rfc3339_nano(input.time),
            kind: "request",
            auth: self.auth(input.auth.as_ref(), false),
            request: self.request(&input.request, &input.non_hmac_request_keys),
            response: None,
            error: input.error.clone().unwrap_or_default(),
        };
        self.encode(&entry)
    }

    /// The `"type": "response"` line for `input`. A missing
    /// [`LogInput::response`] is logged as an empty response object.
    pub fn format_response(&self, input: &LogInput) -> Result<Zeroizing<Vec<u8>>, AuditError> {
        let elide = self.options.elide_list_responses
            && input.request.operation.eq_ignore_ascii_case("list");
        let response = match &input.response {
            Some(r) => self.response(r, &input.non_hmac_response_keys, elide),
            None => ResponseOut::default(),
        };
        let entry = Entry {
            time: rfc3339_nano(input.time),
            kind: "response",
            auth: self.auth(input.auth.as_ref(), false),
            request: self.request(&input.request, &input.non_hmac_request_keys),
            response: Some(response),
            error: input.error.clone().unwrap_or_default(),
        };
        self.encode(&entry)
    }

    fn encode(&self, entry: &Entry) -> Result<Zeroizing<Vec<u8>>, AuditError> {
        // Sized up front so the buffer rarely reallocates: with `log_raw` it
        // holds raw tokens, and only the final allocation is wiped.
        let mut line = Zeroizing::new(Vec::with_capacity(2048 + self.options.prefix.len()));
        line.extend_from_slice(self.options.prefix.as_bytes());
        serde_json::to_writer(&mut *line, entry).map_err(|e| AuditError::Encode(e.to_string()))?;
        line.push(b'\n');
        Ok(line)
    }

    /// Hashes a token-like value unless raw.
    fn secret(&self, value: &str) -> String {
        if self.options.log_raw {
            value.to_owned()
        } else {
            self.salt.hash(value)
        }
    }

    /// Hashes an accessor when `hmac_accessor` (and not raw); empty stays empty.
    fn accessor(&self, value: &str) -> String {
        if value.is_empty() || self.options.log_raw || !self.options.hmac_accessor {
            value.to_owned()
        } else {
            self.salt.hash(value)
        }
    }

    fn data(&self, data: Option<&Value>, non_hmac_keys: &[String], elide: bool) -> Option<Value> {
        let mut copy = data?.clone();
        if elide {
            elide_list_data(&mut copy);
        }
        if !self.options.log_raw {
            hash_strings(&mut copy, &self.salt, non_hmac_keys, None);
        }
        Some(copy)
    }

    fn auth(&self, auth: Option<&AuditAuth>, with_num_uses: bool) -> AuthOut {
        let Some(a) = auth else {
            return AuthOut {
                token_type: "default".to_owned(),
                ..AuthOut::default()
            };
        };
        AuthOut {
            client_token: a
                .client_token
                .as_ref()
                .filter(|t| !t.expose().is_empty())
                .map(|t| self.secret(t.expose()))
                .unwrap_or_default(),
            accessor: self.accessor(&a.accessor),
            display_name: a.display_name.clone(),
            policies: a.policies.clone(),
            token_policies: a.token_policies.clone(),
            identity_policies: a.identity_policies.clone(),
            metadata: a.metadata.clone(),
            entity_id: a.entity_id.clone(),
            entity_created: a.entity_created,
            no_default_policy: a.no_default_policy,
            num_uses: if with_num_uses { a.num_uses } else { 0 },
            remaining_uses: if with_num_uses { 0 } else { a.remaining_uses },
            policy_results: a.policy_results.as_ref().map(|p| PolicyResultsOut {
                allowed: p.allowed,
                granting_policies: p
                    .granting_policies
                    .iter()
                    .map(|name| PolicyInfoOut {
                        name: name.clone(),
                        namespace_id: "root",
                        kind: "acl",
                    })
                    .collect(),
            }),
            token_type: if a.token_type.is_empty() {
                "default".to_owned()
            } else {
                a.token_type.clone()
            },
            token_ttl: a.token_ttl.as_secs(),
            token_issue_time: a
                .token_issue_time
                .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                .unwrap_or_default(),
        }
    }

    fn request(&self, r: &AuditRequest, non_hmac_keys: &[String]) -> RequestOut {
        RequestOut {
            id: r.id.clone(),
            operation: r.operation.clone(),
            mount_point: r.mount_point.clone(),
            mount_type: r.mount_type.clone(),
            mount_accessor: r.mount_accessor.clone(),
            client_token: r
                .client_token
                .as_ref()
                .filter(|t| !t.expose().is_empty())
                .map(|t| self.secret(t.expose()))
                .unwrap_or_default(),
            client_token_accessor: self.accessor(&r.client_token_accessor),
            namespace: NamespaceOut {
                id: r.namespace.id.clone(),
                path: r.namespace.path.clone(),
            },
            path: r.path.clone(),
            data: self.data(r.data.as_ref(), non_hmac_keys, false),
            policy_override: r.policy_override,
            remote_address: r.remote_address.clone(),
            remote_port: r.remote_port,
            headers: r
                .headers
                .iter()
                .map(|h| {
                    let values = h
                        .values
                        .iter()
                        .map(|v| if h.hmac { self.secret(v) } else { v.clone() })
                        .collect();
                    (h.name.to_ascii_lowercase(), values)
                })
                .collect(),
            wrap_ttl: r.wrap_ttl.map(|d| d.as_secs()).unwrap_or_default(),
            request_uri: r
                .request_uri
                .as_ref()
                .filter(|u| **u != r.path)
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn response(&self, r: &AuditResponse, non_hmac_keys: &[String], elide: bool) -> ResponseOut {
        ResponseOut {
            auth: r.auth.as_ref().map(|a| self.auth(Some(a), true)),
            data: self.data(r.data.as_ref(), non_hmac_keys, elide),
            mount_point: r.mount_point.clone(),
            mount_type: r.mount_type.clone(),
            mount_accessor: r.mount_accessor.clone(),
            redirect: r.redirect.clone(),
            secret: r
                .lease_id
                .as_ref()
                .filter(|l| !l.is_empty())
                .map(|l| SecretOut {
                    lease_id: l.clone(),
                }),
            wrap_info: r.wrap_info.as_ref().map(|w| self.wrap_info(w)),
            warnings: r.warnings.clone(),
        }
    }

    fn wrap_info(&self, w: &AuditWrapInfo) -> WrapInfoOut {
        WrapInfoOut {
            accessor: self.accessor(&w.accessor),
            creation_path: w.creation_path.clone(),
            creation_time: rfc3339_nano(w.creation_time),
            token: self.secret(w.token.expose()),
            ttl: w.ttl.as_secs(),
            wrapped_accessor: self.accessor(&w.wrapped_accessor),
        }
    }
}

/// Go's `time.RFC3339Nano` in UTC: nanoseconds with trailing zeros removed
/// (and the dot too when the fraction is zero), as Vault's `time` field.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let full = humantime::format_rfc3339_nanos(t).to_string();
    // `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
    match full.strip_suffix('Z').and_then(|s| s.split_once('.')) {
        Some((secs, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{secs}Z")
            } else {
                format!("{secs}.{frac}Z")
            }
        }
        None => full,
    }
}

/// Replaces every string inside `value` by its audit hash, except those whose
/// nearest enclosing object key is in `skip_keys` (arrays inherit the key of
/// the object field holding them). The plaintext copies are wiped.
fn hash_strings(value: &mut Value, salt: &AuditSalt, skip_keys: &[String], key: Option<&str>) {
    match value {
        Value::String(s) => {
            if key.is_some_and(|k| skip_keys.iter().any(|skip| skip == k)) {
                return;
            }
            let hashed = salt.hash(s);
            drop(Zeroizing::new(std::mem::replace(s, hashed)));
        }
        Value::Array(items) => {
            for item in items {
                hash_strings(item, salt, skip_keys, key);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                hash_strings(v, salt, skip_keys, Some(k));
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Vault's `elide_list_responses`: `keys` (a list of strings) becomes its
/// length and `key_info` (an object) its number of entries.
fn elide_list_data(data: &mut Value) {
    let Value::Object(map) = data else { return };
    if let Some(keys) = map.get_mut("keys")
        && let Value::Array(items) = keys
        && items.iter().all(Value::is_string)
    {
        *keys = Value::from(items.len());
    }
    if let Some(info) = map.get_mut("key_info")
        && let Value::Object(entries) = info
    {
        *info = Value::from(entries.len());
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct Entry {
    time: String,
    #[serde(rename = "type")]
    kind: &'static str,
    auth: AuthOut,
    request: RequestOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<ResponseOut>,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
}

#[derive(Serialize, Default)]
struct AuthOut {
    #[serde(skip_serializing_if = "String::is_empty")]
    client_token: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    accessor: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    display_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policies: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    token_policies: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identity_policies: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    entity_id: String,
    #[serde(skip_serializing_if = "is_false")]
    entity_created: bool,
    #[serde(skip_serializing_if = "is_false")]
    no_default_policy: bool,
    #[serde(skip_serializing_if = "is_zero")]
    num_uses: u64,
    #[serde(skip_serializing_if = "is_zero")]
    remaining_uses: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_results: Option<PolicyResultsOut>,
    token_type: String,
    #[serde(skip_serializing_if = "is_zero")]
    token_ttl: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    token_issue_time: String,
}

#[derive(Serialize)]
struct PolicyResultsOut {
    allowed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    granting_policies: Vec<PolicyInfoOut>,
}

#[derive(Serialize)]
struct PolicyInfoOut {
    name: String,
    namespace_id: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct RequestOut {
    #[serde(skip_serializing_if = "String::is_empty")]
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    operation: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    mount_point: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    mount_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    mount_accessor: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    client_token: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    client_token_accessor: String,
    namespace: NamespaceOut,
    #[serde(skip_serializing_if = "String::is_empty")]
    path: String,
    #[serde(skip_serializing_if = "is_empty_data")]
    data: Option<Value>,
    #[serde(skip_serializing_if = "is_false")]
    policy_override: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    remote_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_port: Option<u16>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "is_zero")]
    wrap_ttl: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    request_uri: String,
}

#[derive(Serialize)]
struct NamespaceOut {
    #[serde(skip_serializing_if = "String::is_empty")]
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    path: String,
}

#[derive(Serialize, Default)]
struct ResponseOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthOut>,
    #[serde(skip_serializing_if = "is_empty_data")]
    data: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    mount_point: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    mount_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    mount_accessor: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    redirect: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<SecretOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrap_info: Option<WrapInfoOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct SecretOut {
    lease_id: String,
}

#[derive(Serialize)]
struct WrapInfoOut {
    #[serde(skip_serializing_if = "String::is_empty")]
    accessor: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    creation_path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    creation_time: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    token: String,
    #[serde(skip_serializing_if = "is_zero")]
    ttl: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    wrapped_accessor: String,
}

/// Vault omits `data` when it is nil or an empty map.
fn is_empty_data(data: &Option<Value>) -> bool {
    match data {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(_) => false,
    }
}
