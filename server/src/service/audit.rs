//! What the audit log says: every referral made or moved, every refused command, every
//! delivery of another agency's data to a device (shared fields in a pull, attachments, a
//! timeline), worded here once for every backend.
//!
//! Entries name agencies, devices, users, records, positions and codes — never a field value
//! or a reason's text.

use crate::storage::port::StoreTx;
use crate::storage::{
    AuditEntry, AuditEvent, Delivery, DeviceAuth, Position, Storage, StorageError,
};
use fieldcase_core::RecordId;

/// What one entry says, beyond who and when.
#[derive(Default)]
pub(super) struct Subject<'a> {
    pub record: Option<RecordId>,
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
    pub ops: Option<u32>,
    pub detail: Option<&'a str>,
}

/// Appends one entry for an act of `device`.
pub(super) fn record(
    tx: &mut dyn StoreTx,
    event: AuditEvent,
    device: &DeviceAuth,
    subject: Subject<'_>,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.append_audit(&AuditEntry {
        at_ms: now_ms,
        event,
        agency: device.agency.clone(),
        device: Some(device.id),
        user_id: Some(device.user_id.clone()),
        record_id: subject.record,
        first_position: subject.first_position,
        last_position: subject.last_position,
        ops: subject.ops,
        detail: subject.detail.map(str::to_owned),
    })
}

/// Audits the shared data a pull is about to deliver to `device`, in one transaction.
pub fn record_deliveries(
    storage: &dyn Storage,
    device: &DeviceAuth,
    deliveries: &[Delivery],
    now_ms: u64,
) -> Result<(), StorageError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    crate::storage::write(storage, |tx| {
        for delivery in deliveries {
            record(
                tx,
                AuditEvent::SharedDelivery,
                device,
                Subject {
                    record: Some(delivery.record_id),
                    first_position: Some(delivery.first_position),
                    last_position: Some(delivery.last_position),
                    ops: Some(delivery.ops),
                    detail: None,
                },
                now_ms,
            )?;
        }
        Ok(())
    })
}
