//! A report prepared for the user to preview, then submit.

use fuin::ReportBuilder;

use crate::records::ReportPreview;

/// A report of messages the user selected
/// ([`FuinClient::report`](crate::FuinClient::report)): nothing has left
/// the device. Show [`PreparedReport::preview`], and submit it with
/// [`FuinClient::submit_report`](crate::FuinClient::submit_report) once the
/// user confirms. It holds the messages' franking keys, wiped when the
/// object is dropped; they never cross to the foreign side.
#[derive(uniffi::Object)]
pub struct PreparedReport {
    pub(crate) builder: ReportBuilder,
}

#[uniffi::export]
impl PreparedReport {
    /// Exactly what the report would disclose.
    pub fn preview(&self) -> ReportPreview {
        self.builder.preview().into()
    }
}

impl std::fmt::Debug for PreparedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedReport").finish_non_exhaustive()
    }
}
