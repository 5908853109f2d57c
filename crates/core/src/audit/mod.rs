//! Audit: the devices a node writes to (`devices`), their table as persisted
//! in the barrier (`table`), and the recording of every request and response
//! in them (`trail`). Entry format and devices themselves are the `coffer-audit`
//! crate's.

pub(crate) mod devices;
pub(crate) mod table;
pub(crate) mod trail;
