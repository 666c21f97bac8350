//! The throwaway cluster starts, serves, and leaves nothing behind. Runs in
//! every test run, whether or not DATABASE_URL points at another server.

use std::net::TcpStream;

use devdb::EphemeralCluster;
use diesel::prelude::*;
use diesel::sql_types::Integer;

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Integer)]
    one: i32,
}

#[test]
fn a_cluster_serves_until_dropped_and_then_is_gone() {
    let cluster = EphemeralCluster::start().unwrap();
    let directory = cluster.directory().to_owned();
    let port = cluster.port();
    assert!(directory.join("data").join("PG_VERSION").is_file());

    let mut conn = PgConnection::establish(cluster.url()).unwrap();
    let row: One = diesel::sql_query("SELECT 1 AS one")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(row.one, 1);
    drop(conn);

    cluster.stop();
    assert!(
        !directory.exists(),
        "{} was left behind",
        directory.display()
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server still listens on {port}"
    );
}
