//! The migrations go up, down and up again, and end where they started: every
//! `down.sql` really undoes its `up.sql`.

use devdb::TestDatabase;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// A textual dump of everything the migrations create in `public`: columns,
/// constraints, indexes, triggers and functions. Sorted, so it compares.
fn schema_dump(conn: &mut PgConnection) -> Vec<String> {
    let query = r#"
        SELECT format('column %s.%s %s %s default %s', c.table_name, c.column_name,
                      c.data_type, c.is_nullable, coalesce(c.column_default, '-')) AS line
          FROM information_schema.columns c
         WHERE c.table_schema = 'public' AND c.table_name <> '__diesel_schema_migrations'
        UNION ALL
        SELECT format('constraint %s on %s: %s', con.conname, rel.relname,
                      pg_get_constraintdef(con.oid))
          FROM pg_constraint con
          JOIN pg_class rel ON rel.oid = con.conrelid
          JOIN pg_namespace n ON n.oid = rel.relnamespace
         WHERE n.nspname = 'public' AND rel.relname <> '__diesel_schema_migrations'
        UNION ALL
        SELECT format('index %s', indexdef)
          FROM pg_indexes
         WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'
        UNION ALL
        SELECT format('trigger %s', pg_get_triggerdef(t.oid))
          FROM pg_trigger t
          JOIN pg_class rel ON rel.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = rel.relnamespace
         WHERE n.nspname = 'public' AND NOT t.tgisinternal
        UNION ALL
        SELECT format('function %s', pg_get_functiondef(p.oid))
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public'
    "#;
    let mut lines: Vec<String> = diesel::sql_query(query)
        .load::<Line>(conn)
        .expect("the schema dump query runs")
        .into_iter()
        .map(|line| line.line)
        .collect();
    lines.sort();
    lines
}

#[test]
fn migrations_round_trip_up_down_up() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();

    // The template was migrated up once already.
    assert!(storage::migrations::is_current(&mut conn).unwrap());
    let migrated = schema_dump(&mut conn);
    assert!(
        migrated
            .iter()
            .any(|line| line.starts_with("column resources.upstream_id")),
        "the dump sees the schema: {migrated:#?}"
    );

    let reverted = storage::migrations::revert_all(&mut conn).unwrap();
    assert!(!reverted.is_empty());
    assert_eq!(
        schema_dump(&mut conn),
        Vec::<String>::new(),
        "down.sql left something behind"
    );
    assert!(!storage::migrations::is_current(&mut conn).unwrap());

    let applied = storage::migrations::run_pending(&mut conn).unwrap();
    assert_eq!(applied.len(), reverted.len());
    assert_eq!(
        schema_dump(&mut conn),
        migrated,
        "up after down differs from up"
    );
    assert!(storage::migrations::is_current(&mut conn).unwrap());
}

#[test]
fn running_migrations_again_is_a_no_op() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    assert_eq!(
        storage::migrations::run_pending(&mut conn).unwrap(),
        Vec::<String>::new()
    );
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct Claim {
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Text)]
    upstream_profile: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    grants: i64,
}

/// A deployment that ran before the one-tenant-per-object rule may hold the
/// same upstream object in two tenants' rows (the hole the rule closes). The
/// migration keeps the first claim and revokes the later one instead of
/// failing to build its unique index.
#[test]
fn an_object_claimed_twice_before_the_rule_stays_with_its_first_claim() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    // Back to just before the rule (later migrations go first).
    let mut reverted = Vec::new();
    while !reverted
        .last()
        .is_some_and(|version: &String| version.replace('-', "").starts_with("20261130000001"))
    {
        assert!(
            reverted.len() < 10,
            "the rule's migration was not found: {reverted:?}"
        );
        reverted.push(storage::migrations::revert_last(&mut conn).unwrap());
    }
    reverted.reverse();
    assert!(!storage::migrations::is_current(&mut conn).unwrap());

    conn.batch_execute(
        r#"
        INSERT INTO tenants (id, slug, display_name) VALUES
            ('00000000-0000-0000-0000-00000000000a', 'first', 'First'),
            ('00000000-0000-0000-0000-00000000000b', 'second', 'Second');
        INSERT INTO users (tenant_id, id, subject) VALUES
            ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000b1', 'owner'),
            ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000b2', 'grantee');
        INSERT INTO resources (tenant_id, id, kind, upstream_profile, upstream_id, state, created_at) VALUES
            ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a9', 'vector_store', 'default', 'vs_shared', 'active', now() - interval '1 day'),
            ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000b9', 'vector_store', 'default', 'vs_shared', 'active', now()),
            ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000b8', 'vector_store', 'default', 'vs_own', 'active', now());
        INSERT INTO grants (tenant_id, id, resource_id, grantee_user_id, permission) VALUES
            ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b9', '00000000-0000-0000-0000-0000000000b2', 'read'),
            ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b8', '00000000-0000-0000-0000-0000000000b2', 'read');
        "#,
    )
    .unwrap();

    let applied = storage::migrations::run_pending(&mut conn).unwrap();
    assert_eq!(applied, reverted);
    let claims: Vec<Claim> = diesel::sql_query(
        r#"
        SELECT t.slug, r.state, r.upstream_profile,
               (SELECT count(*) FROM grants g WHERE g.tenant_id = r.tenant_id AND g.resource_id = r.id) AS grants
          FROM resources r JOIN tenants t ON t.id = r.tenant_id
         ORDER BY r.created_at, r.upstream_id
        "#,
    )
    .load(&mut conn)
    .unwrap();
    let claim = |slug: &str, state: &str, profile: &str, grants: i64| Claim {
        slug: slug.to_owned(),
        state: state.to_owned(),
        upstream_profile: profile.to_owned(),
        grants,
    };
    assert_eq!(
        claims,
        [
            claim("first", "active", "default", 0),
            // The untouched object of the second tenant keeps its grant.
            claim("second", "active", "default", 1),
            claim(
                "second",
                "deleted",
                "revoked:00000000-0000-0000-0000-0000000000b9:default",
                0
            ),
        ]
    );
    // The rule now holds as a constraint.
    let again = diesel::sql_query(
        "INSERT INTO resources (tenant_id, id, kind, upstream_profile, upstream_id, state) VALUES \
         ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000b7', 'vector_store', 'default', 'vs_shared', 'active')",
    )
    .execute(&mut conn);
    assert!(again.is_err(), "a second claim is refused");
}
