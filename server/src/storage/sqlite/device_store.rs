//! What the server holds about each device's own store, in SQLite: the highest rollback
//! counter the store sent and whether it was found untrusted. Stores and finds; the rule is
//! [`crate::service::device_store`]'s.

use super::{backend, ms_col, to_sql_ms};
use crate::storage::port::StoreCounter;
use crate::storage::StorageError;
use fieldcase_core::DeviceId;
use rusqlite::{params, OptionalExtension, Transaction};

pub(super) fn store_counter(
    tx: &Transaction<'_>,
    device: DeviceId,
) -> Result<Option<StoreCounter>, StorageError> {
    tx.query_row(
        "SELECT counter, untrusted FROM device_store_counters WHERE device_id = ?1",
        [device.as_bytes()],
        |row| {
            Ok(StoreCounter {
                counter: ms_col(row.get(0)?),
                untrusted: row.get(1)?,
            })
        },
    )
    .optional()
    .map_err(backend)
}

pub(super) fn set_store_counter(
    tx: &Transaction<'_>,
    device: DeviceId,
    value: &StoreCounter,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO device_store_counters (device_id, counter, untrusted) VALUES (?1, ?2, ?3)
         ON CONFLICT (device_id) DO UPDATE SET counter = excluded.counter,
             untrusted = excluded.untrusted",
        params![device.as_bytes(), to_sql_ms(value.counter), value.untrusted],
    )
    .map_err(backend)?;
    Ok(())
}
