//! Reading the audit log. Events are written by the store, with the change they record.

use super::{
    error::ServiceError,
    now,
    principal::{Action, Principal},
    AppState,
};
use crate::{
    domain,
    model::{AuditEvent, AuditPage, AuditQuery},
};

/// Events an export reads per query.
pub const EXPORT_BATCH: u32 = 1_000;

/// One page of the organization's events, newest first.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    query: &AuditQuery,
) -> Result<AuditPage, ServiceError> {
    principal.authorize(Action::ListAuditEvents)?;
    domain::filter(&query.q).map_err(|m| ServiceError::validation("q", m))?;
    Ok(state.store.list_events(principal.organization_id(), query, now()).await?)
}

/// An export of the events `query` selects (all pages), read in batches of `EXPORT_BATCH`
/// as the caller asks for them: constant memory however long the log.
pub struct Export {
    state: AppState,
    organization: crate::model::OrgId,
    query: AuditQuery,
    before: Option<i64>,
    done: bool,
}

pub fn export(
    state: &AppState,
    principal: &Principal,
    query: AuditQuery,
) -> Result<Export, ServiceError> {
    principal.authorize(Action::ListAuditEvents)?;
    domain::filter(&query.q).map_err(|m| ServiceError::validation("q", m))?;
    Ok(Export {
        state: state.clone(),
        organization: principal.organization_id(),
        query,
        before: None,
        done: false,
    })
}

impl Export {
    /// The next batch, newest first; empty when the export is complete.
    pub async fn next_batch(&mut self) -> Result<Vec<AuditEvent>, ServiceError> {
        if self.done {
            return Ok(Vec::new());
        }
        let batch = self
            .state
            .store
            .events_before(self.organization, &self.query, self.before, EXPORT_BATCH)
            .await?;
        self.before = batch.last().map(|e| e.id);
        self.done = batch.len() < EXPORT_BATCH as usize;
        Ok(batch)
    }
}

/// The CSV export's header line.
pub const CSV_HEADER: &str = "time,actor,action,target,address,detail\r\n";

/// One event as a CSV line (RFC 4180). A field that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, tab or carriage return) is prefixed with `'`.
pub fn csv_line(e: &AuditEvent) -> String {
    let fields = [
        crate::model::format_iso(e.at),
        e.actor.clone(),
        crate::model::Choice::label(e.action).to_string(),
        e.target.clone().unwrap_or_default(),
        e.address.clone().unwrap_or_default(),
        e.detail.clone(),
    ];
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&csv_field(field));
    }
    line.push_str("\r\n");
    line
}

fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActorKind, AuditAction, TargetKind};

    #[test]
    fn csv_lines_quote_and_defuse_formulas() {
        let e = AuditEvent {
            id: 1,
            at: 1_795_944_780,
            action: AuditAction::TokenRevoked,
            actor_kind: ActorKind::User,
            actor: "Ada, \"the admin\"".into(),
            target_kind: Some(TargetKind::Token),
            target_id: Some(3),
            target: Some("=HYPERLINK(\"x\")".into()),
            address: Some("127.0.0.1".into()),
            detail: String::new(),
        };
        assert_eq!(
            csv_line(&e),
            "2026-11-29T09:33:00Z,\"Ada, \"\"the admin\"\"\",Token revoked,\"'=HYPERLINK(\"\"x\"\")\",127.0.0.1,\r\n"
        );
    }
}
