//! Object ids in the upstream's spellings (`asst_…`, `file-…`).

use std::time::{SystemTime, UNIX_EPOCH};

/// A new id: the prefix, then 24 random lowercase hex characters.
pub(crate) fn new_id(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &random[..24])
}

/// Now, in Unix seconds, as every timestamp of the API.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
