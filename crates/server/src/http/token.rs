//! Reading the client token from `X-Vault-Token` or `Authorization: Bearer`.

use axum::http::HeaderMap;

/// The token the client presented, if any.
pub(crate) fn from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Some(t.to_owned());
    }
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comes_from_vault_header_or_bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(from_headers(&h), None);
        h.insert("authorization", "Bearer abc".parse().expect("header"));
        assert_eq!(from_headers(&h).as_deref(), Some("abc"));
        h.insert("x-vault-token", "".parse().expect("header"));
        assert_eq!(
            from_headers(&h).as_deref(),
            Some("abc"),
            "empty X-Vault-Token falls back"
        );
        h.insert("x-vault-token", "xyz".parse().expect("header"));
        assert_eq!(from_headers(&h).as_deref(), Some("xyz"));
    }
}
