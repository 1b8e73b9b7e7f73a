//! [`Secret`]: a token or passphrase that never prints and wipes itself.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroize;

/// A secret string (token, password, passphrase).
///
/// `Debug` prints `REDACTED`; there is no `Display`. The memory is wiped on drop. It is built from
/// a borrowed `&str` into an allocation of exactly its length, so no spare capacity (which a later
/// shrink would copy and free unwiped) ever holds it.
pub struct Secret(SecretString);

impl Secret {
    /// Copies `value` into a new secret; the caller wipes its own copy.
    pub fn new(value: &str) -> Self {
        Self(SecretString::from(value))
    }

    /// The secret's text, for the one place that must use it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl Clone for Secret {
    fn clone(&self) -> Self {
        Self::new(self.expose())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(SecretVisitor)
    }
}

/// Copies the string once into a [`Secret`] and wipes any owned copy it is handed.
struct SecretVisitor;

impl Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Secret, E> {
        Ok(Secret::new(value))
    }

    fn visit_string<E: de::Error>(self, mut value: String) -> Result<Secret, E> {
        let secret = Secret::new(&value);
        value.zeroize();
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "REDACTED");
        assert_eq!(format!("{:?}", Some(Secret::new("x"))), "Some(REDACTED)");
    }

    #[test]
    fn round_trips_through_json_with_escapes() {
        let secret: Secret = serde_json::from_str(r#""a\"b\\c\u00e9""#).unwrap();
        assert_eq!(secret.expose(), "a\"b\\cé");
        assert_eq!(serde_json::to_string(&secret).unwrap(), r#""a\"b\\cé""#);
    }
}
