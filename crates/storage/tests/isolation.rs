//! Every test gets a database of its own: tests running at the same time never
//! see each other's rows, and nothing is left behind.

use std::thread;

use devdb::TestDatabase;
use storage::repo::tenants::{self, NewTenant};

#[test]
fn parallel_tests_never_see_each_others_rows() {
    let handles: Vec<_> = (0..6)
        .map(|_| {
            thread::spawn(|| {
                let database = TestDatabase::create();
                let mut conn = storage::connect(database.url()).unwrap();
                // The same slug everywhere: in a shared database, all but one
                // of these inserts would fail on the unique slug.
                let tenant = tenants::create(
                    &mut conn,
                    &NewTenant {
                        slug: "acme",
                        display_name: "Acme",
                        upstream_profile: "default",
                    },
                )
                .unwrap();
                let all = tenants::list(&mut conn).unwrap();
                assert_eq!(all, vec![tenant]);
                database.name().to_owned()
            })
        })
        .collect();
    let names: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    for name in &names {
        assert!(
            !TestDatabase::exists_on_server(name).unwrap(),
            "{name} was left behind"
        );
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
}

#[test]
fn a_test_database_starts_empty_but_migrated() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    assert!(storage::migrations::is_current(&mut conn).unwrap());
    assert_eq!(tenants::list(&mut conn).unwrap(), Vec::new());
}
