//! The storage conformance suite run against PostgreSQL the way another crate runs it: through
//! the exported `conformance_suite!` macro and `storage::conformance` (the `conformance`
//! feature), each check on a fresh database of the server `FIELDCASE_TEST_DATABASE_URL` names
//! (`scripts/with-postgres.sh`). SQLite runs the same suite inside the crate.

use fieldcase_server::storage::postgres::testing::temp_postgres;

fieldcase_server::conformance_suite!(temp_postgres());
