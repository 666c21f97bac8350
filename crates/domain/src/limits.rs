//! Quotas and rate limits: what a tenant's policy sets, and what holds once
//! the configuration's defaults fill what it left unset.

/// The limits Threadgate knows, by the name the policy object uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitName {
    UserRequestsPerMinute,
    TenantRequestsPerMinute,
    UserTokensPerDay,
    TenantTokensPerDay,
    UserConcurrentStreams,
}

impl LimitName {
    pub const ALL: [LimitName; 5] = [
        LimitName::UserRequestsPerMinute,
        LimitName::TenantRequestsPerMinute,
        LimitName::UserTokensPerDay,
        LimitName::TenantTokensPerDay,
        LimitName::UserConcurrentStreams,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            LimitName::UserRequestsPerMinute => "user_requests_per_minute",
            LimitName::TenantRequestsPerMinute => "tenant_requests_per_minute",
            LimitName::UserTokensPerDay => "user_tokens_per_day",
            LimitName::TenantTokensPerDay => "tenant_tokens_per_day",
            LimitName::UserConcurrentStreams => "user_concurrent_streams",
        }
    }

    /// The largest value the limit takes (the smallest is 1: `0` would
    /// refuse everything, which is what disabling a user or tenant is for).
    pub const fn maximum(self) -> u64 {
        match self {
            LimitName::UserRequestsPerMinute => 1_000_000,
            LimitName::TenantRequestsPerMinute => 10_000_000,
            LimitName::UserTokensPerDay | LimitName::TenantTokensPerDay => 1_000_000_000_000,
            LimitName::UserConcurrentStreams => 10_000,
        }
    }

    /// Whether `value` is a limit this one may be set to.
    pub fn admits(self, value: u64) -> bool {
        (1..=self.maximum()).contains(&value)
    }
}

/// One limit as a policy holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitSetting {
    /// Never set: the configuration's default applies.
    #[default]
    Default,
    /// Set to `null`: no limit.
    Unlimited,
    Max(u64),
}

/// Every limit as a tenant's policy holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyLimits {
    pub user_requests_per_minute: LimitSetting,
    pub tenant_requests_per_minute: LimitSetting,
    pub user_tokens_per_day: LimitSetting,
    pub tenant_tokens_per_day: LimitSetting,
    pub user_concurrent_streams: LimitSetting,
}

/// The limits that hold: `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub user_requests_per_minute: Option<u64>,
    pub tenant_requests_per_minute: Option<u64>,
    pub user_tokens_per_day: Option<u64>,
    pub tenant_tokens_per_day: Option<u64>,
    pub user_concurrent_streams: Option<u64>,
}

impl Limits {
    /// The limit `name`; `None`: no limit.
    pub fn get(&self, name: LimitName) -> Option<u64> {
        match name {
            LimitName::UserRequestsPerMinute => self.user_requests_per_minute,
            LimitName::TenantRequestsPerMinute => self.tenant_requests_per_minute,
            LimitName::UserTokensPerDay => self.user_tokens_per_day,
            LimitName::TenantTokensPerDay => self.tenant_tokens_per_day,
            LimitName::UserConcurrentStreams => self.user_concurrent_streams,
        }
    }
}

impl PolicyLimits {
    pub fn get(&self, name: LimitName) -> LimitSetting {
        match name {
            LimitName::UserRequestsPerMinute => self.user_requests_per_minute,
            LimitName::TenantRequestsPerMinute => self.tenant_requests_per_minute,
            LimitName::UserTokensPerDay => self.user_tokens_per_day,
            LimitName::TenantTokensPerDay => self.tenant_tokens_per_day,
            LimitName::UserConcurrentStreams => self.user_concurrent_streams,
        }
    }

    pub fn set(&mut self, name: LimitName, setting: LimitSetting) {
        let slot = match name {
            LimitName::UserRequestsPerMinute => &mut self.user_requests_per_minute,
            LimitName::TenantRequestsPerMinute => &mut self.tenant_requests_per_minute,
            LimitName::UserTokensPerDay => &mut self.user_tokens_per_day,
            LimitName::TenantTokensPerDay => &mut self.tenant_tokens_per_day,
            LimitName::UserConcurrentStreams => &mut self.user_concurrent_streams,
        };
        *slot = setting;
    }

    /// What holds: the policy's setting, or the default where it has none.
    pub fn over(&self, defaults: &Limits) -> Limits {
        let pick = |setting: LimitSetting, default: Option<u64>| match setting {
            LimitSetting::Default => default,
            LimitSetting::Unlimited => None,
            LimitSetting::Max(limit) => Some(limit),
        };
        Limits {
            user_requests_per_minute: pick(
                self.user_requests_per_minute,
                defaults.user_requests_per_minute,
            ),
            tenant_requests_per_minute: pick(
                self.tenant_requests_per_minute,
                defaults.tenant_requests_per_minute,
            ),
            user_tokens_per_day: pick(self.user_tokens_per_day, defaults.user_tokens_per_day),
            tenant_tokens_per_day: pick(self.tenant_tokens_per_day, defaults.tenant_tokens_per_day),
            user_concurrent_streams: pick(
                self.user_concurrent_streams,
                defaults.user_concurrent_streams,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_overrides_defaults_and_null_means_no_limit() {
        let defaults = Limits {
            user_requests_per_minute: Some(60),
            tenant_requests_per_minute: Some(600),
            ..Limits::default()
        };
        let mut policy = PolicyLimits::default();
        policy.set(LimitName::UserRequestsPerMinute, LimitSetting::Max(5));
        policy.set(LimitName::TenantRequestsPerMinute, LimitSetting::Unlimited);
        policy.set(LimitName::UserTokensPerDay, LimitSetting::Max(1000));
        let holds = policy.over(&defaults);
        assert_eq!(holds.user_requests_per_minute, Some(5));
        assert_eq!(holds.tenant_requests_per_minute, None);
        assert_eq!(holds.user_tokens_per_day, Some(1000));
        assert_eq!(holds.tenant_tokens_per_day, None);
        assert_eq!(PolicyLimits::default().over(&defaults), defaults);
    }
}
