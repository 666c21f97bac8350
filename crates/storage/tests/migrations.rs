//! The migrations go up, down and up again, and end where they started: every
//! `down.sql` really undoes its `up.sql`.

use devdb::TestDatabase;
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
