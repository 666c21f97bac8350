//! Every configured profile's client, by name.

use std::collections::HashMap;
use std::sync::Arc;

use crate::client::UpstreamClient;
use crate::config::ProfileConfig;
use crate::error::UpstreamError;

#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    clients: HashMap<String, Arc<UpstreamClient>>,
}

impl Upstreams {
    pub fn new<'a>(
        profiles: impl IntoIterator<Item = (&'a String, &'a ProfileConfig)>,
    ) -> Result<Self, UpstreamError> {
        let clients = profiles
            .into_iter()
            .map(|(name, config)| {
                Ok((
                    name.clone(),
                    Arc::new(UpstreamClient::new(name, config.clone())?),
                ))
            })
            .collect::<Result<_, UpstreamError>>()?;
        Ok(Self { clients })
    }

    pub fn get(&self, profile: &str) -> Result<&Arc<UpstreamClient>, UpstreamError> {
        self.clients
            .get(profile)
            .ok_or_else(|| UpstreamError::UnknownProfile(profile.to_owned()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.clients.keys().map(String::as_str)
    }
}
