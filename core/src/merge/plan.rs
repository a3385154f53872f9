//! STUB — being written.
pub struct Conflict;
pub struct FieldState;
pub struct MergePlan;
pub struct RecordState;
pub fn plan() {}
