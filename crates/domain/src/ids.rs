//! Identifiers. Internal ids are UUIDs wrapped in one type per entity so that a
//! user id can never be passed where a tenant id is expected; upstream ids are
//! the opaque strings the upstream API hands out, checked before they are ever
//! placed into an upstream URL.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7), so that ids created together sit
            /// together in B-tree indexes.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A tenant: one customer of Threadgate, with its own users, keys and assistants.
    TenantId
);
uuid_id!(
    /// An end-user of one tenant.
    UserId
);
uuid_id!(
    /// Threadgate's own id for an upstream object it knows about.
    ResourceId
);
uuid_id!(
    /// A tenant API key.
    ApiKeyId
);
uuid_id!(
    /// An identity provider (token issuer) registered by a tenant.
    IdentityProviderId
);

/// The id the upstream gave an object (`thread_abc…`, `file-abc…`, `vs_abc…`).
///
/// Upstream ids are opaque, but they end up as path segments of upstream URLs,
/// so only the characters real ids use are accepted: a `/`, `?`, `%` or `.`
/// smuggled into an id could otherwise address a different upstream object
/// than the one that was authorized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UpstreamId(String);

impl UpstreamId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: impl Into<String>) -> Result<Self, DomainError> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(DomainError::InvalidUpstreamId("empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(DomainError::InvalidUpstreamId("longer than 128 characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(DomainError::InvalidUpstreamId(
                "only ASCII letters, digits, `_` and `-` are allowed",
            ));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for UpstreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UpstreamId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_the_shapes_the_upstream_hands_out() {
        for id in [
            "thread_abc123",
            "asst_X9",
            "file-AbC123",
            "vs_1",
            "run_2",
            "msg_3",
        ] {
            assert_eq!(UpstreamId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_ids_that_could_change_an_upstream_url() {
        for id in [
            "",
            "thread_1/messages",
            "../files",
            "file-1?x=y",
            "file-1%2F",
            "a b",
            "thread_1#",
            "é",
        ] {
            assert!(UpstreamId::parse(id).is_err(), "{id:?} was accepted");
        }
        assert!(UpstreamId::parse("a".repeat(129)).is_err());
        assert!(UpstreamId::parse("a".repeat(128)).is_ok());
    }

    proptest! {
        #[test]
        fn every_accepted_id_is_a_safe_path_segment(raw in "\\PC{0,140}") {
            if let Ok(id) = UpstreamId::parse(raw.clone()) {
                prop_assert!(!id.as_str().contains(['/', '?', '#', '%', '.', ' ']));
                prop_assert!(id.as_str().len() <= UpstreamId::MAX_LEN);
                prop_assert_eq!(id.as_str(), raw.as_str());
            }
        }

        #[test]
        fn safe_ids_round_trip(raw in "[A-Za-z0-9_-]{1,128}") {
            prop_assert_eq!(UpstreamId::parse(raw.clone()).unwrap().into_string(), raw);
        }
    }
}
