//! One database per test, cloned from a template migrated once per process.

use std::sync::{Mutex, OnceLock};

use diesel::{Connection, PgConnection, RunQueryDsl};
use url::Url;

use crate::{DevDbError, EphemeralCluster};

/// The server the tests use, prepared once per process.
struct Server {
    admin_url: Url,
    template: String,
    /// Kept for the life of the process; when the process exits the cluster
    /// stops and its files are removed (see [`EphemeralCluster`]).
    _cluster: Option<EphemeralCluster>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// What the exit hook must drop: the template on a server we do not own.
static TEMPLATE_TO_DROP: Mutex<Option<(Url, String)>> = Mutex::new(None);

/// A database of its own for one test, migrated to the current schema. It is
/// dropped (with any connections still open to it) when this value is.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: Url,
}

impl TestDatabase {
    /// Creates the database. Panics with the reason when no server can be
    /// had: this is test setup, and the message says what to install or set.
    pub fn create() -> Self {
        match Self::try_create() {
            Ok(database) => database,
            Err(error) => panic!("cannot create a test database: {error}"),
        }
    }

    pub fn try_create() -> Result<Self, DevDbError> {
        let server = SERVER
            .get_or_init(|| prepare_server().map_err(|error| error.to_string()))
            .as_ref()
            .map_err(|error| DevDbError::Database(error.clone()))?;
        let name = format!("tg_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = connect(&server.admin_url)?;
        execute(
            &mut admin,
            &format!("CREATE DATABASE {name} TEMPLATE {}", server.template),
        )?;
        Ok(Self {
            url: with_database(&server.admin_url, &name).to_string(),
            name,
            admin_url: server.admin_url.clone(),
        })
    }

    /// Connection URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a database of this name exists on the test server; lets tests
    /// check that dropped databases are really gone.
    pub fn exists_on_server(name: &str) -> Result<bool, DevDbError> {
        let server = SERVER
            .get()
            .and_then(|server| server.as_ref().ok())
            .ok_or_else(|| DevDbError::Database("no test server prepared".to_owned()))?;
        let mut admin = connect(&server.admin_url)?;
        database_exists(&mut admin, name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let dropped = connect(&self.admin_url).and_then(|mut admin| {
            execute(
                &mut admin,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            )
        });
        if let Err(error) = dropped {
            tracing::warn!(database = %self.name, %error, "could not drop test database");
        }
    }
}

fn prepare_server() -> Result<Server, DevDbError> {
    let (admin_url, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => (parse_url(&url)?, None),
        _ => {
            let cluster = EphemeralCluster::start()?;
            (parse_url(cluster.url())?, Some(cluster))
        }
    };

    let template = format!(
        "tg_template_{}_{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut admin = connect(&admin_url)?;
    execute(&mut admin, &format!("CREATE DATABASE {template}"))?;
    if cluster.is_none() {
        // On a server we do not own, the template must go when we exit.
        remember_template_for_exit(&admin_url, &template);
    }

    let mut conn = connect(&with_database(&admin_url, &template))?;
    storage::migrations::run_pending(&mut conn)
        .map_err(|error| DevDbError::Database(error.to_string()))?;
    drop(conn);
    // No connections may be open to a template while it is being copied.
    execute(
        &mut admin,
        &format!("ALTER DATABASE {template} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"),
    )?;

    Ok(Server {
        admin_url,
        template,
        _cluster: cluster,
    })
}

fn remember_template_for_exit(admin_url: &Url, template: &str) {
    if let Ok(mut slot) = TEMPLATE_TO_DROP.lock() {
        *slot = Some((admin_url.clone(), template.to_owned()));
    }
    // SAFETY: `atexit` only stores the function pointer; `drop_template_at_exit`
    // is a plain `extern "C"` function that neither unwinds nor touches state
    // that exit has already torn down (it opens its own connection).
    #[allow(unsafe_code)]
    unsafe {
        libc::atexit(drop_template_at_exit);
    }
}

extern "C" fn drop_template_at_exit() {
    let Some((admin_url, template)) = TEMPLATE_TO_DROP
        .lock()
        .ok()
        .and_then(|mut slot| slot.take())
    else {
        return;
    };
    let _ = std::panic::catch_unwind(move || {
        if let Ok(mut admin) = connect(&admin_url) {
            let _ = execute(
                &mut admin,
                &format!("ALTER DATABASE {template} WITH IS_TEMPLATE false"),
            );
            let _ = execute(
                &mut admin,
                &format!("DROP DATABASE IF EXISTS {template} WITH (FORCE)"),
            );
        }
    });
}

fn parse_url(raw: &str) -> Result<Url, DevDbError> {
    // The URL may carry a password: never echo it back.
    Url::parse(raw).map_err(|error| DevDbError::InvalidUrl(error.to_string()))
}

fn with_database(url: &Url, database: &str) -> Url {
    let mut url = url.clone();
    url.set_path(&format!("/{database}"));
    url
}

fn connect(url: &Url) -> Result<PgConnection, DevDbError> {
    PgConnection::establish(url.as_str()).map_err(|error| DevDbError::Database(error.to_string()))
}

fn execute(conn: &mut PgConnection, sql: &str) -> Result<(), DevDbError> {
    diesel::sql_query(sql)
        .execute(conn)
        .map(drop)
        .map_err(|error| DevDbError::Database(format!("{sql}: {error}")))
}

fn database_exists(conn: &mut PgConnection, name: &str) -> Result<bool, DevDbError> {
    use diesel::sql_types::{Bool, Text};

    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result::<Exists>(conn)
        .map(|row| row.exists)
        .map_err(|error| DevDbError::Database(error.to_string()))
}
