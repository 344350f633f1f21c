//! Fresh, migrated databases for tests: a SQLite file in its own temporary directory, or,
//! when `TOKENWELL_TEST_PG_URL` names a PostgreSQL server, a new database on it (created
//! per test, dropped afterwards). `make test` runs the suites once on each.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use sqlx::Connection;

use super::{NewPerson, Store};
use crate::model::{OrgId, UserId};

/// The PostgreSQL server the tests may create databases on, if any.
pub fn postgres_server() -> Option<String> {
    std::env::var("TOKENWELL_TEST_PG_URL").ok().filter(|url| !url.is_empty())
}

/// A database made for one test; removed when dropped.
pub struct TestDatabase {
    /// The URL to open it with (`sqlite:…` or `postgres://…`).
    pub url: String,
    dir: PathBuf,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A new, empty database: PostgreSQL when `TOKENWELL_TEST_PG_URL` is set, else SQLite.
    pub async fn create() -> TestDatabase {
        match postgres_server() {
            Some(server) => TestDatabase::create_postgres(&server).await,
            None => TestDatabase::create_sqlite(),
        }
    }

    pub fn create_sqlite() -> TestDatabase {
        let dir = temp_dir();
        let url = format!("sqlite:{}", dir.join("test.db").display());
        TestDatabase { url, dir, postgres: None }
    }

    async fn create_postgres(server: &str) -> TestDatabase {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tokenwell_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            super::super::now()
        );
        let mut admin =
            sqlx::PgConnection::connect(server).await.expect("connect to TOKENWELL_TEST_PG_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        let url = with_database(server, &name);
        TestDatabase { url, dir: temp_dir(), postgres: Some((server.to_string(), name)) }
    }

    /// A directory of this test's own (for files, sites…), removed with it.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// "sqlite" or "postgres".
    pub fn backend(&self) -> &'static str {
        if self.postgres.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }
}

/// A new directory of the test's own under the system's temporary directory.
fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tokenwell-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a test directory");
    dir
}

/// `server` with its database name replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .map_or(0, |i| i + base[i..].find('/').unwrap_or(base.len() - i));
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((server, name)) = self.postgres.take() {
            // Drop runs outside any async context we could await in: a thread of its own.
            let dropping = name.clone();
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                runtime.map(|rt| {
                    rt.block_on(async {
                        let mut admin = sqlx::PgConnection::connect(&server).await?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {dropping} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await
                    })
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(Ok(_)))) {
                eprintln!("could not drop test database {name}");
            }
        }
    }
}

/// A fresh, migrated store on the backend the environment asks for.
pub async fn fresh_store() -> (Store, TestDatabase) {
    let db = TestDatabase::create().await;
    (Store::open(&db.url).await.expect("open test database"), db)
}

/// A fresh, migrated SQLite store, for what only SQLite has.
pub async fn fresh_sqlite_store() -> (Store, TestDatabase) {
    let db = TestDatabase::create_sqlite();
    (Store::open(&db.url).await.expect("open test database"), db)
}

/// A person to add in a test, with a placeholder password hash.
pub fn person<'a>(name: &'a str, email: &'a str) -> NewPerson<'a> {
    NewPerson { name, email, password_hash: "h" }
}

/// The organization of `user`.
pub async fn org_of(store: &Store, user: UserId) -> OrgId {
    OrgId(store.scalar_for_test("SELECT organization_id FROM users WHERE id = $1", &[user.0]).await)
}

/// A fresh store set up as Acme with its first admin, Ada (no address, at time 0).
pub async fn acme() -> (Store, TestDatabase, UserId, OrgId) {
    let (store, db) = fresh_store().await;
    let ada =
        store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
    let org = org_of(&store, ada).await;
    (store, db, ada, org)
}

impl Store {
    /// Runs one statement of a test's own, with its parameters, on the write path.
    pub async fn execute_for_test(&self, sql: &str, params: &[i64]) -> u64 {
        self.try_execute_for_test(sql, params).await.expect(sql)
    }

    /// The same, for a statement the test expects the database to refuse.
    pub async fn try_execute_for_test(
        &self,
        sql: &str,
        params: &[i64],
    ) -> Result<u64, sqlx::Error> {
        Ok(super::write_db!(self, db => {
            let mut query = sqlx::query(sql);
            for p in params {
                query = query.bind(*p);
            }
            query.execute(db).await?.rows_affected()
        }))
    }

    /// One integer a test asks for.
    pub async fn scalar_for_test(&self, sql: &str, params: &[i64]) -> i64 {
        super::read_db!(self, db => {
            let mut query = sqlx::query_scalar::<_, i64>(sql);
            for p in params {
                query = query.bind(*p);
            }
            query.fetch_one(db).await.expect(sql)
        })
    }
}

impl Store {
    /// One binary value of a test's own query.
    pub async fn bytes_for_test(&self, sql: &str) -> Vec<u8> {
        super::read_db!(self, db => sqlx::query_scalar::<_, Vec<u8>>(sql).fetch_one(db).await.expect(sql))
    }
}

/// `user` acting from nowhere in particular, as the audit log records them.
pub fn by(user: UserId) -> super::Actor {
    super::Actor::user(user, "Test", None)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn tests_run_on_the_backend_the_environment_names() {
        let (store, db) = super::fresh_store().await;
        let expected = if super::postgres_server().is_some() { "postgres" } else { "sqlite" };
        assert_eq!((store.backend_name(), db.backend()), (expected, expected));
        assert!(store.ready().await);
    }

    #[test]
    fn test_databases_replace_only_the_database_name() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://tw@127.0.0.1:5/postgres", "t1"),
            "postgres://tw@127.0.0.1:5/t1"
        );
        assert_eq!(
            with_database("postgres://tw@127.0.0.1:5", "t1"),
            "postgres://tw@127.0.0.1:5/t1"
        );
        assert_eq!(
            with_database("postgres://tw@h/postgres?sslmode=disable", "t1"),
            "postgres://tw@h/t1?sslmode=disable"
        );
    }
}
