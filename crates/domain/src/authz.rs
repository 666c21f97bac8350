//! The authorization decision: the one place that says yes or no.
//!
//! Deny by default: every rule below is an explicit `Allow`; anything that
//! matches no rule is denied. Callers never look at ownership themselves, so
//! sharing, admin access settings and new resource kinds change this file and
//! nothing else.

use crate::{
    Action, Grant, LifecycleState, Owner, Permission, Principal, ResourceFacts, ResourceKind,
    UserId,
};

/// Tenant-wide settings that widen or narrow the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantPolicy {
    /// Lets tenant admins read (never change) their users' conversations.
    /// Off unless the tenant turns it on.
    pub admins_read_conversations: bool,
}

/// What the request is about.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A resource that does not exist yet (only with [`Action::Create`]).
    NewOf(ResourceKind),
    /// An existing resource.
    Existing(&'a ResourceFacts),
}

/// The answer, with the reason for a denial so the audit trail can say why.
/// Callers must not reveal the reason: to the caller, a denied id looks
/// exactly like one that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    Allow,
    Deny(DenyReason),
}

impl Decision {
    pub const fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// The resource belongs to another tenant.
    ForeignTenant,
    /// The resource is pending, being deleted, or deleted.
    NotActive(LifecycleState),
    /// The resource belongs to someone else and no grant covers the action.
    NotOwner,
    /// Only tenant admins may do this.
    AdminRequired,
    /// The action needs an end-user (an owner to be), and the caller is a
    /// backend acting as itself.
    UserRequired,
    /// The action does not apply to the target (e.g. creating an existing object).
    NotApplicable,
}

impl DenyReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            DenyReason::ForeignTenant => "foreign_tenant",
            DenyReason::NotActive(_) => "not_active",
            DenyReason::NotOwner => "not_owner",
            DenyReason::AdminRequired => "admin_required",
            DenyReason::UserRequired => "user_required",
            DenyReason::NotApplicable => "not_applicable",
        }
    }
}

/// May `principal` perform `action` on `target`?
pub fn authorize(
    principal: &Principal,
    action: Action,
    target: Target<'_>,
    policy: &TenantPolicy,
) -> Decision {
    match target {
        Target::NewOf(kind) => authorize_create(principal, action, kind),
        Target::Existing(resource) => authorize_existing(principal, action, resource, policy),
    }
}

fn authorize_create(principal: &Principal, action: Action, kind: ResourceKind) -> Decision {
    if action != Action::Create {
        return Decision::Deny(DenyReason::NotApplicable);
    }
    match kind {
        // Assistants are the tenant's, configured by its admins.
        ResourceKind::Assistant if principal.is_admin() => Decision::Allow,
        ResourceKind::Assistant => Decision::Deny(DenyReason::AdminRequired),
        // Everything else gets an owner: the user, or, for an admin backend
        // without a user, the tenant (its knowledge files and vector stores).
        _ if principal.user_id().is_some() || principal.is_admin() => Decision::Allow,
        _ => Decision::Deny(DenyReason::UserRequired),
    }
}

fn authorize_existing(
    principal: &Principal,
    action: Action,
    resource: &ResourceFacts,
    policy: &TenantPolicy,
) -> Decision {
    if resource.tenant_id != principal.tenant_id {
        return Decision::Deny(DenyReason::ForeignTenant);
    }
    if resource.state != LifecycleState::Active {
        return Decision::Deny(DenyReason::NotActive(resource.state));
    }
    // Only a user's own conversation state is shared (never the tenant's).
    let shareable = resource.kind.is_shareable() && matches!(resource.owner, Owner::User(_));
    if action == Action::Create || (action == Action::Share && !shareable) {
        return Decision::Deny(DenyReason::NotApplicable);
    }
    match resource.owner {
        Owner::User(owner) => authorize_user_owned(principal, action, resource, owner, policy),
        Owner::Tenant => authorize_tenant_owned(principal, action, resource.kind),
    }
}

fn authorize_user_owned(
    principal: &Principal,
    action: Action,
    resource: &ResourceFacts,
    owner: UserId,
    policy: &TenantPolicy,
) -> Decision {
    let Some(caller) = principal.user_id() else {
        // A backend acting as itself never reaches into a user's objects; it
        // must name the user with on-behalf-of.
        return Decision::Deny(DenyReason::UserRequired);
    };
    if caller == owner {
        return Decision::Allow;
    }
    let granted = resource
        .grants
        .iter()
        .filter(|grant| grant.grantee == caller)
        .any(|grant| permits(grant, action));
    if granted {
        return Decision::Allow;
    }
    let admin_may_read = principal.is_admin()
        && policy.admins_read_conversations
        && resource.kind.is_conversation_state()
        && action == Action::Read;
    if admin_may_read {
        return Decision::Allow;
    }
    Decision::Deny(DenyReason::NotOwner)
}

fn authorize_tenant_owned(principal: &Principal, action: Action, kind: ResourceKind) -> Decision {
    if principal.is_admin() {
        return Decision::Allow;
    }
    match (kind, action) {
        // Members see their tenant's assistants and run them.
        (ResourceKind::Assistant, Action::Read | Action::Use) => Decision::Allow,
        // Knowledge files and vector stores reach members only through the
        // tenant's assistants, upstream; members may not read or name them.
        _ => Decision::Deny(DenyReason::AdminRequired),
    }
}

/// Whose objects a request is about: the caller's own, or (a tenant admin
/// asking with `Threadgate-Owner: tenant`) the tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ownership {
    #[default]
    Own,
    Tenant,
}

/// The owner a new object created by `principal` gets: the user, or the
/// tenant for a backend acting as itself (whether it may create at all is
/// [`authorize`]'s to say) or for an admin who asked for the tenant.
pub fn owner_of_new(principal: &Principal, asked: Ownership) -> Result<Owner, DenyReason> {
    match asked {
        Ownership::Tenant if principal.is_admin() => Ok(Owner::Tenant),
        Ownership::Tenant => Err(DenyReason::AdminRequired),
        Ownership::Own => Ok(principal.user_id().map_or(Owner::Tenant, Owner::User)),
    }
}

/// Whose objects of one kind a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListScope {
    /// One user's own.
    OwnedBy(UserId),
    /// The tenant's own (assistants, knowledge files and stores).
    Tenant,
    /// What other users of the tenant shared with this user.
    SharedWith(UserId),
    /// Nothing: the caller owns no objects of this kind.
    Nothing,
}

/// What a list of `kind` shows `principal`. Members list their tenant's
/// assistants; everything else is the caller's own, or the tenant's for its
/// admins. Conversation state is never the tenant's to list.
pub fn list_scope(
    principal: &Principal,
    kind: ResourceKind,
    asked: Ownership,
) -> Result<ListScope, DenyReason> {
    if kind == ResourceKind::Assistant {
        return Ok(ListScope::Tenant);
    }
    Ok(match owner_of_new(principal, asked)? {
        Owner::User(user) => ListScope::OwnedBy(user),
        Owner::Tenant if principal.is_admin() && !kind.is_conversation_state() => ListScope::Tenant,
        Owner::Tenant => ListScope::Nothing,
    })
}

/// What a grant lets its grantee do: sharing stays with the owner, and a
/// grant on a parent reaches its children for reading only.
/// What a list of `kind` "shared with me" shows `principal`: objects shared
/// with their end-user; nothing for a backend acting as itself, or for
/// kinds that are never shared.
pub fn shared_list_scope(principal: &Principal, kind: ResourceKind) -> ListScope {
    match principal.user_id() {
        Some(user) if kind.is_shareable() => ListScope::SharedWith(user),
        _ => ListScope::Nothing,
    }
}

const fn permits(grant: &Grant, action: Action) -> bool {
    if grant.through_parent {
        return matches!(action, Action::Read | Action::ReadContent);
    }
    match grant.permission {
        Permission::Read => matches!(action, Action::Read | Action::ReadContent),
        // Adding, never changing or removing what the owner wrote.
        Permission::Write => matches!(
            action,
            Action::Read | Action::ReadContent | Action::Append | Action::Use
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_show_the_callers_own_the_tenants_to_admins_and_assistants_to_all() {
        let tenant = TenantId::new();
        let member = user(tenant, Role::Member);
        let admin = user(tenant, Role::Admin);
        let own = |principal: &Principal| ListScope::OwnedBy(principal.user_id().unwrap());
        for kind in [
            ResourceKind::Thread,
            ResourceKind::File,
            ResourceKind::VectorStore,
        ] {
            assert_eq!(list_scope(&member, kind, Ownership::Own), Ok(own(&member)));
            assert_eq!(list_scope(&admin, kind, Ownership::Own), Ok(own(&admin)));
            assert_eq!(
                list_scope(&member, kind, Ownership::Tenant),
                Err(DenyReason::AdminRequired)
            );
        }
        assert_eq!(
            list_scope(&admin, ResourceKind::File, Ownership::Tenant),
            Ok(ListScope::Tenant)
        );
        assert_eq!(
            list_scope(&admin, ResourceKind::Thread, Ownership::Tenant),
            Ok(ListScope::Nothing),
            "conversation state is never the tenant's"
        );
        assert_eq!(
            list_scope(&member, ResourceKind::Assistant, Ownership::Own),
            Ok(ListScope::Tenant)
        );
        // Backends acting as themselves own nothing of their own.
        let admin_backend = service(tenant, Role::Admin);
        let member_backend = service(tenant, Role::Member);
        assert_eq!(
            list_scope(&admin_backend, ResourceKind::File, Ownership::Own),
            Ok(ListScope::Tenant)
        );
        assert_eq!(
            list_scope(&admin_backend, ResourceKind::Thread, Ownership::Own),
            Ok(ListScope::Nothing)
        );
        assert_eq!(
            list_scope(&member_backend, ResourceKind::VectorStore, Ownership::Own),
            Ok(ListScope::Nothing)
        );
    }

    #[test]
    fn new_objects_are_the_callers_or_the_tenants_when_an_admin_asks() {
        let tenant = TenantId::new();
        let member = user(tenant, Role::Member);
        let admin = user(tenant, Role::Admin);
        assert_eq!(
            owner_of_new(&member, Ownership::Own),
            Ok(Owner::User(member.user_id().unwrap()))
        );
        assert_eq!(owner_of_new(&admin, Ownership::Tenant), Ok(Owner::Tenant));
        assert_eq!(
            owner_of_new(&member, Ownership::Tenant),
            Err(DenyReason::AdminRequired)
        );
    }
    use crate::{
        Actor, ApiKeyId, Authentication, Grant, IdentityProviderId, ResourceId, Role, TenantId,
        UserId,
    };

    const ALL_ACTIONS: [Action; 6] = [
        Action::Read,
        Action::ReadContent,
        Action::Append,
        Action::Update,
        Action::Delete,
        Action::Use,
    ];

    fn user(tenant_id: TenantId, role: Role) -> Principal {
        Principal {
            tenant_id,
            actor: Actor::User(UserId::new()),
            role,
            authentication: Authentication::Token {
                identity_provider_id: IdentityProviderId::new(),
            },
        }
    }

    fn service(tenant_id: TenantId, role: Role) -> Principal {
        Principal {
            tenant_id,
            actor: Actor::Service,
            role,
            authentication: Authentication::ApiKey {
                api_key_id: ApiKeyId::new(),
            },
        }
    }

    fn resource(tenant_id: TenantId, kind: ResourceKind, owner: Owner) -> ResourceFacts {
        ResourceFacts {
            id: ResourceId::new(),
            tenant_id,
            kind,
            owner,
            state: LifecycleState::Active,
            grants: Vec::new(),
        }
    }

    fn decide(principal: &Principal, action: Action, resource: &ResourceFacts) -> Decision {
        authorize(
            principal,
            action,
            Target::Existing(resource),
            &TenantPolicy::default(),
        )
    }

    #[test]
    fn owners_may_do_everything_with_their_own_objects() {
        let tenant = TenantId::new();
        let owner = user(tenant, Role::Member);
        for kind in [
            ResourceKind::Thread,
            ResourceKind::File,
            ResourceKind::VectorStore,
        ] {
            let thread = resource(tenant, kind, Owner::User(owner.user_id().unwrap()));
            for action in ALL_ACTIONS {
                assert_eq!(
                    decide(&owner, action, &thread),
                    Decision::Allow,
                    "{kind:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn other_users_of_the_same_tenant_are_denied_even_as_admins() {
        let tenant = TenantId::new();
        let owner = user(tenant, Role::Member);
        let thread = resource(
            tenant,
            ResourceKind::Thread,
            Owner::User(owner.user_id().unwrap()),
        );
        for other in [user(tenant, Role::Member), user(tenant, Role::Admin)] {
            for action in ALL_ACTIONS {
                assert_eq!(
                    decide(&other, action, &thread),
                    Decision::Deny(DenyReason::NotOwner),
                    "{:?} {action:?}",
                    other.role
                );
            }
        }
    }

    #[test]
    fn another_tenant_is_denied_before_anything_else() {
        let owner_tenant = TenantId::new();
        let intruder = user(TenantId::new(), Role::Admin);
        let mut assistant = resource(owner_tenant, ResourceKind::Assistant, Owner::Tenant);
        assistant.grants.push(Grant {
            grantee: intruder.user_id().unwrap(),
            permission: Permission::Write,
            through_parent: false,
        });
        for action in ALL_ACTIONS {
            assert_eq!(
                decide(&intruder, action, &assistant),
                Decision::Deny(DenyReason::ForeignTenant)
            );
        }
    }

    #[test]
    fn objects_that_are_not_active_are_denied_to_their_owner_too() {
        let tenant = TenantId::new();
        let owner = user(tenant, Role::Member);
        for state in [
            LifecycleState::Pending,
            LifecycleState::Deleting,
            LifecycleState::Deleted,
        ] {
            let mut thread = resource(
                tenant,
                ResourceKind::Thread,
                Owner::User(owner.user_id().unwrap()),
            );
            thread.state = state;
            assert_eq!(
                decide(&owner, Action::Read, &thread),
                Decision::Deny(DenyReason::NotActive(state))
            );
        }
    }

    #[test]
    fn grants_allow_what_their_permission_covers_and_never_delete() {
        let tenant = TenantId::new();
        let owner = user(tenant, Role::Member);
        let reader = user(tenant, Role::Member);
        let writer = user(tenant, Role::Member);
        let mut thread = resource(
            tenant,
            ResourceKind::Thread,
            Owner::User(owner.user_id().unwrap()),
        );
        thread.grants = vec![
            Grant {
                grantee: reader.user_id().unwrap(),
                permission: Permission::Read,
                through_parent: false,
            },
            Grant {
                grantee: writer.user_id().unwrap(),
                permission: Permission::Write,
                through_parent: false,
            },
        ];
        assert!(decide(&reader, Action::Read, &thread).is_allowed());
        assert!(!decide(&reader, Action::Append, &thread).is_allowed());
        assert!(!decide(&reader, Action::Use, &thread).is_allowed());
        assert!(decide(&writer, Action::Append, &thread).is_allowed());
        assert!(decide(&writer, Action::Use, &thread).is_allowed());
        assert!(
            !decide(&writer, Action::Update, &thread).is_allowed(),
            "a writer adds, never changes what is there"
        );
        assert!(!decide(&reader, Action::Delete, &thread).is_allowed());
        assert!(!decide(&writer, Action::Delete, &thread).is_allowed());
        for grantee in [&reader, &writer] {
            assert!(!decide(grantee, Action::Share, &thread).is_allowed());
        }
        assert!(decide(&owner, Action::Share, &thread).is_allowed());
    }

    #[test]
    fn a_grant_on_a_thread_reaches_what_it_made_for_reading_only() {
        let tenant = TenantId::new();
        let owner = user(tenant, Role::Member);
        let writer = user(tenant, Role::Member);
        let mut output = resource(
            tenant,
            ResourceKind::File,
            Owner::User(owner.user_id().unwrap()),
        );
        output.grants.push(Grant {
            grantee: writer.user_id().unwrap(),
            permission: Permission::Write,
            through_parent: true,
        });
        assert!(decide(&writer, Action::Read, &output).is_allowed());
        assert!(decide(&writer, Action::ReadContent, &output).is_allowed());
        for action in [
            Action::Append,
            Action::Update,
            Action::Use,
            Action::Delete,
            Action::Share,
        ] {
            assert!(!decide(&writer, action, &output).is_allowed(), "{action:?}");
        }
    }

    #[test]
    fn only_conversation_state_is_shared_and_only_by_its_owner() {
        let tenant = TenantId::new();
        let owner = user(tenant, Role::Member);
        let admin = user(tenant, Role::Admin);
        let mine = |kind| resource(tenant, kind, Owner::User(owner.user_id().unwrap()));
        for kind in [ResourceKind::Thread, ResourceKind::Conversation] {
            assert!(decide(&owner, Action::Share, &mine(kind)).is_allowed());
            assert!(!decide(&admin, Action::Share, &mine(kind)).is_allowed());
            let tenants = resource(tenant, kind, Owner::Tenant);
            assert_eq!(
                decide(&admin, Action::Share, &tenants),
                Decision::Deny(DenyReason::NotApplicable),
                "the tenant's own conversation state is never shared"
            );
        }
        for kind in [
            ResourceKind::File,
            ResourceKind::VectorStore,
            ResourceKind::Response,
        ] {
            assert_eq!(
                decide(&owner, Action::Share, &mine(kind)),
                Decision::Deny(DenyReason::NotApplicable)
            );
        }
        assert_eq!(
            shared_list_scope(&owner, ResourceKind::Thread),
            ListScope::SharedWith(owner.user_id().unwrap())
        );
        assert_eq!(
            shared_list_scope(&owner, ResourceKind::File),
            ListScope::Nothing
        );
        assert_eq!(
            shared_list_scope(&service(tenant, Role::Admin), ResourceKind::Thread),
            ListScope::Nothing
        );
    }

    #[test]
    fn admins_read_conversations_only_when_the_tenant_allows_it_and_only_read() {
        let tenant = TenantId::new();
        let owner = user(tenant, Role::Member);
        let admin = user(tenant, Role::Admin);
        let member = user(tenant, Role::Member);
        let thread = resource(
            tenant,
            ResourceKind::Thread,
            Owner::User(owner.user_id().unwrap()),
        );
        let file = resource(
            tenant,
            ResourceKind::File,
            Owner::User(owner.user_id().unwrap()),
        );
        let policy = TenantPolicy {
            admins_read_conversations: true,
        };
        let with_policy = |p: &Principal, a: Action, r: &ResourceFacts| {
            authorize(p, a, Target::Existing(r), &policy)
        };
        assert!(with_policy(&admin, Action::Read, &thread).is_allowed());
        assert!(!with_policy(&admin, Action::Update, &thread).is_allowed());
        assert!(!with_policy(&admin, Action::Delete, &thread).is_allowed());
        assert!(!with_policy(&admin, Action::Read, &file).is_allowed());
        assert!(!with_policy(&member, Action::Read, &thread).is_allowed());
    }

    #[test]
    fn members_read_and_run_tenant_assistants_but_only_admins_change_them() {
        let tenant = TenantId::new();
        let member = user(tenant, Role::Member);
        let admin = user(tenant, Role::Admin);
        let assistant = resource(tenant, ResourceKind::Assistant, Owner::Tenant);
        assert!(decide(&member, Action::Read, &assistant).is_allowed());
        assert!(decide(&member, Action::Use, &assistant).is_allowed());
        for action in [Action::Update, Action::Delete] {
            assert_eq!(
                decide(&member, action, &assistant),
                Decision::Deny(DenyReason::AdminRequired)
            );
            assert!(decide(&admin, action, &assistant).is_allowed());
        }
    }

    #[test]
    fn tenant_knowledge_files_are_neither_readable_nor_usable_by_members() {
        let tenant = TenantId::new();
        let member = user(tenant, Role::Member);
        let admin = service(tenant, Role::Admin);
        for kind in [ResourceKind::File, ResourceKind::VectorStore] {
            let knowledge = resource(tenant, kind, Owner::Tenant);
            for action in ALL_ACTIONS {
                assert!(
                    !decide(&member, action, &knowledge).is_allowed(),
                    "{kind:?} {action:?}"
                );
                assert!(
                    decide(&admin, action, &knowledge).is_allowed(),
                    "{kind:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn a_backend_without_a_user_cannot_reach_user_objects_even_as_admin() {
        let tenant = TenantId::new();
        let owner = user(tenant, Role::Member);
        let thread = resource(
            tenant,
            ResourceKind::Thread,
            Owner::User(owner.user_id().unwrap()),
        );
        let backend = service(tenant, Role::Admin);
        assert_eq!(
            decide(&backend, Action::Read, &thread),
            Decision::Deny(DenyReason::UserRequired)
        );
    }

    #[test]
    fn creation_rules() {
        let tenant = TenantId::new();
        let create = |p: &Principal, kind| {
            authorize(
                p,
                Action::Create,
                Target::NewOf(kind),
                &TenantPolicy::default(),
            )
        };
        let member = user(tenant, Role::Member);
        let admin = user(tenant, Role::Admin);
        let member_backend = service(tenant, Role::Member);
        let admin_backend = service(tenant, Role::Admin);

        assert_eq!(
            create(&member, ResourceKind::Assistant),
            Decision::Deny(DenyReason::AdminRequired)
        );
        assert!(create(&admin, ResourceKind::Assistant).is_allowed());
        assert!(create(&admin_backend, ResourceKind::Assistant).is_allowed());
        for kind in [
            ResourceKind::Thread,
            ResourceKind::File,
            ResourceKind::VectorStore,
        ] {
            assert!(create(&member, kind).is_allowed());
            assert_eq!(
                create(&member_backend, kind),
                Decision::Deny(DenyReason::UserRequired)
            );
            assert!(create(&admin_backend, kind).is_allowed());
        }
        assert_eq!(
            authorize(
                &member,
                Action::Read,
                Target::NewOf(ResourceKind::Thread),
                &TenantPolicy::default()
            ),
            Decision::Deny(DenyReason::NotApplicable)
        );
        let thread = resource(
            tenant,
            ResourceKind::Thread,
            Owner::User(member.user_id().unwrap()),
        );
        assert_eq!(
            decide(&member, Action::Create, &thread),
            Decision::Deny(DenyReason::NotApplicable)
        );
    }
}
