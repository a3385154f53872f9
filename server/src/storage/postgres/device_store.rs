//! What the server holds about each device's own store, in PostgreSQL: the highest rollback
//! counter the store sent and whether it was found untrusted. Stores and finds; the rule is
//! [`crate::service::device_store`]'s.

use super::Tx;
use super::{backend, col, ms, to_sql};
use crate::storage::port::StoreCounter;
use crate::storage::StorageError;
use fieldcase_core::DeviceId;

pub(super) fn store_counter(
    tx: &mut Tx<'_>,
    device: DeviceId,
) -> Result<Option<StoreCounter>, StorageError> {
    // FOR UPDATE: two syncs of one device racing must not both pass the same counter.
    tx.query_opt(
        "SELECT counter, untrusted FROM device_store_counters WHERE device_id = $1 FOR UPDATE",
        &[&device.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .map(|row| {
        Ok(StoreCounter {
            counter: ms(col(&row, 0)?),
            untrusted: col(&row, 1)?,
        })
    })
    .transpose()
}

pub(super) fn set_store_counter(
    tx: &mut Tx<'_>,
    device: DeviceId,
    value: &StoreCounter,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO device_store_counters (device_id, counter, untrusted) VALUES ($1, $2, $3)
         ON CONFLICT (device_id) DO UPDATE SET counter = excluded.counter,
             untrusted = excluded.untrusted",
        &[
            &device.as_bytes().as_slice(),
            &to_sql(value.counter),
            &value.untrusted,
        ],
    )
    .map_err(backend)?;
    Ok(())
}
