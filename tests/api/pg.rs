//! A database of its own for each test that needs PostgreSQL, on the server
//! `scripts/test` starts (or the one `WORKBENCH_TEST_DATABASE_URL` names).

use sqlx::Connection;

/// A new, empty database; its URL. Fails, never skips, when no server answers.
pub async fn fresh_database() -> String {
    let admin = std::env::var("WORKBENCH_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs PostgreSQL: run the tests with `bash scripts/test`, which starts one, \
             or set WORKBENCH_TEST_DATABASE_URL to a server where this user may create databases"
        )
    });
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!(
            "this test needs PostgreSQL at {admin} and none answers ({e}): run `bash scripts/test`, \
             which starts one, or fix WORKBENCH_TEST_DATABASE_URL"
        )
    });
    let name = format!("wb_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}
