// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        name -> Text,
        prefix -> Text,
        secret_sha256 -> Bytea,
        role -> Text,
        can_act_on_behalf -> Bool,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_chain (tenant_id, seq) {
        tenant_id -> Uuid,
        seq -> Int8,
        event_id -> Uuid,
        prev_hash -> Bytea,
        hash -> Bytea,
        form -> Int2,
    }
}

diesel::table! {
    audit_chain_heads (tenant_id) {
        tenant_id -> Uuid,
        seq -> Int8,
        hash -> Bytea,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        occurred_at -> Timestamptz,
        request_id -> Nullable<Text>,
        trace_id -> Nullable<Text>,
        actor_user_id -> Nullable<Uuid>,
        actor_api_key_id -> Nullable<Uuid>,
        auth_method -> Nullable<Text>,
        action -> Text,
        resource_kind -> Nullable<Text>,
        resource_id -> Nullable<Uuid>,
        upstream_id -> Nullable<Text>,
        outcome -> Text,
        reason -> Nullable<Text>,
        details -> Jsonb,
    }
}

diesel::table! {
    erasures (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        user_id -> Uuid,
        state -> Text,
        requested_by_user_id -> Nullable<Uuid>,
        requested_by_api_key_id -> Nullable<Uuid>,
        deleted -> Jsonb,
        proof -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    grants (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        resource_id -> Uuid,
        grantee_user_id -> Uuid,
        permission -> Text,
        granted_by_user_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (tenant_id, principal_id, key) {
        tenant_id -> Uuid,
        principal_id -> Uuid,
        key -> Text,
        request_sha256 -> Bytea,
        state -> Text,
        resource_id -> Nullable<Uuid>,
        response_status -> Nullable<Int2>,
        response_headers -> Nullable<Jsonb>,
        response_body -> Nullable<Bytea>,
        created_at -> Timestamptz,
        locked_until -> Timestamptz,
        expires_at -> Timestamptz,
        holder_request_id -> Nullable<Text>,
    }
}

diesel::table! {
    identity_providers (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        issuer -> Text,
        audiences -> Array<Nullable<Text>>,
        jwks_uri -> Nullable<Text>,
        algorithms -> Array<Nullable<Text>>,
        subject_claim -> Text,
        admin_claim -> Nullable<Text>,
        admin_claim_value -> Nullable<Text>,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    resources (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        kind -> Text,
        upstream_profile -> Text,
        upstream_id -> Nullable<Text>,
        owner_user_id -> Nullable<Uuid>,
        parent_id -> Nullable<Uuid>,
        state -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        request_id -> Nullable<Text>,
        attributes -> Jsonb,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        slug -> Text,
        display_name -> Text,
        state -> Text,
        upstream_profile -> Text,
        admins_read_conversations -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        retention_days -> Nullable<Int4>,
        allowed_tools -> Nullable<Array<Nullable<Text>>>,
        allowed_models -> Nullable<Array<Nullable<Text>>>,
        limits -> Jsonb,
    }
}

diesel::table! {
    usage_daily (tenant_id, day, user_id) {
        tenant_id -> Uuid,
        user_id -> Uuid,
        day -> Date,
        tokens -> Int8,
    }
}

diesel::table! {
    usage_records (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        user_id -> Nullable<Uuid>,
        resource_id -> Nullable<Uuid>,
        upstream_ref -> Text,
        upstream_profile -> Text,
        model -> Nullable<Text>,
        prompt_tokens -> Int8,
        completion_tokens -> Int8,
        total_tokens -> Int8,
        recorded_at -> Timestamptz,
        finished -> Bool,
    }
}

diesel::table! {
    users (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        subject -> Text,
        state -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_seen_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(erasures -> tenants (tenant_id));
diesel::joinable!(idempotency_keys -> tenants (tenant_id));
diesel::joinable!(identity_providers -> tenants (tenant_id));
diesel::joinable!(resources -> tenants (tenant_id));
diesel::joinable!(usage_daily -> tenants (tenant_id));
diesel::joinable!(usage_records -> tenants (tenant_id));
diesel::joinable!(users -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_chain,
    audit_chain_heads,
    audit_events,
    erasures,
    grants,
    idempotency_keys,
    identity_providers,
    resources,
    tenants,
    usage_daily,
    usage_records,
    users,
);
