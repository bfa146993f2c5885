//! Session and CSRF tokens, and the cookies that carry them
//! (`spec/report.md` §13.4).
//!
//! A session token is 32 random bytes, sent to the browser as 64 hex digits
//! in the `fuin_session` cookie; the store keeps only its SHA-256. The CSRF
//! token of a session is derived from the session token, so the server keeps
//! nothing more for it. Before login, the login form is protected by a
//! separate random cookie (`fuin_login`) and the token derived from it
//! (double submit), plus the Origin check every POST gets.

use axum::http::HeaderMap;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::sha256;
use rand::Rng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "fuin_session";
/// The pre-login CSRF cookie's name.
pub const LOGIN_COOKIE: &str = "fuin_login";
/// How long a session lasts: 8 hours.
pub const SESSION_MS: u64 = 8 * 60 * 60 * 1000;
/// The label of a session's CSRF token (`fuin/v1/moderation-csrf`).
pub const CSRF_LABEL: Label = Label::ModerationCsrf;
/// The label of the login form's CSRF token
/// (`fuin/v1/moderation-login-csrf`).
pub const LOGIN_CSRF_LABEL: Label = Label::ModerationLoginCsrf;

/// A token as the browser holds it: 32 random bytes.
pub struct Token(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// A fresh random token.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// Reads a token from its 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text, bytes.as_mut()).ok()?;
        Some(Self(bytes))
    }

    /// As the cookie carries it.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    /// What the store keeps: its SHA-256.
    pub fn hash(&self) -> [u8; 32] {
        sha256(&[self.0.as_ref()])
    }

    /// The CSRF token derived from it under `label`, as 64 hex digits.
    pub fn csrf(&self, label: Label) -> String {
        let framed = Zeroizing::new(
            Framer::new(label.as_bytes())
                .field(self.0.as_ref())
                .finish(),
        );
        hex::encode(sha256(&[&framed]))
    }
}

/// Whether `given` is the CSRF token `expected`, compared in constant time.
pub fn csrf_matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// A `Set-Cookie` value: HTTP-only, same-site strict, path `/`, `Secure`
/// when `secure`; `max_age_s` 0 removes it.
pub fn set_cookie(name: &str, value: &str, max_age_s: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_through_hex_and_derives_distinct_csrf_tokens() {
        let token = Token::generate();
        let back = Token::from_hex(&token.to_hex()).unwrap();
        assert_eq!(token.hash(), back.hash());
        assert_eq!(token.csrf(CSRF_LABEL), back.csrf(CSRF_LABEL));
        assert_ne!(token.csrf(CSRF_LABEL), token.csrf(LOGIN_CSRF_LABEL));
        assert_ne!(token.csrf(CSRF_LABEL), Token::generate().csrf(CSRF_LABEL));
        assert!(Token::from_hex("zz").is_none());
        assert!(Token::from_hex(&"ab".repeat(31)).is_none());
        assert_eq!(format!("{token:?}"), "Token(..)");
    }

    #[test]
    fn tokens_hash_and_derive_as_the_spec_says() {
        // Expected values computed outside Rust (Python hashlib) from
        // §13.4: SHA-256 of the token, and SHA-256 over
        // BE32(len(label)) || label || BE32(32) || token.
        let token =
            Token::from_hex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
                .unwrap();
        assert_eq!(
            hex::encode(token.hash()),
            "ae216c2ef5247a3782c135efa279a3e4cdc61094270f5d2be58c6204b7a612c9"
        );
        assert_eq!(
            token.csrf(CSRF_LABEL),
            "79d9ed142b8214950916256569e21e2dc06e60385891ae67815b84893676103f"
        );
        assert_eq!(
            token.csrf(LOGIN_CSRF_LABEL),
            "dc702475c95e399817745d39ec2e3b39579b84a747c1bb8d93064a57a23e73c0"
        );
    }

    #[test]
    fn csrf_comparison_needs_the_whole_token() {
        let token = Token::generate().csrf(CSRF_LABEL);
        assert!(csrf_matches(&token, &token.clone()));
        assert!(!csrf_matches(&token, &token[..63]));
        assert!(!csrf_matches(&token, ""));
        let mut other = token.clone().into_bytes();
        other[0] = if other[0] == b'0' { b'1' } else { b'0' };
        assert!(!csrf_matches(&token, &String::from_utf8(other).unwrap()));
    }

    #[test]
    fn cookies_are_found_among_others_and_flags_are_set() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "a=1; fuin_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
        let set = set_cookie(SESSION_COOKIE, "abc", 60, true);
        assert_eq!(
            set,
            "fuin_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=60; Secure"
        );
        assert!(!set_cookie(SESSION_COOKIE, "abc", 60, false).contains("Secure"));
    }
}
