//! The audit log: who did what to which token or user, from where.
//!
//! Events are written only by the store, by `record_event!` inside the transaction of the
//! change they record, so a change and its event land together or not at all. Nothing here
//! updates or deletes an event, and the database refuses it (triggers in the migrations).

use std::net::IpAddr;

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{
    clamp_offset, contains_pattern, push_page, read_db, transaction, Backend, Store, StoreError,
};
use crate::model::{
    ActorKind, AuditAction, AuditEvent, AuditQuery, Choice, OrgId, Page, TargetKind, TokenId,
    UserId, EVENTS_COUNTED, EVENTS_PER_PAGE,
};

/// Who acts, as the audit log records them: their name at that moment and their address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// The person; for a token, its principal.
    pub user: Option<UserId>,
    pub token: Option<TokenId>,
    pub name: String,
    pub address: Option<String>,
}

impl Actor {
    pub fn user(id: UserId, name: &str, address: Option<IpAddr>) -> Actor {
        Actor {
            kind: ActorKind::User,
            user: Some(id),
            token: None,
            name: name.to_string(),
            address: address.map(|a| a.to_string()),
        }
    }

    /// A token acting through the API: its name and whom it acts as.
    pub fn token(
        token: TokenId,
        token_name: &str,
        principal: UserId,
        principal_name: &str,
        address: Option<IpAddr>,
    ) -> Actor {
        Actor {
            kind: ActorKind::Token,
            user: Some(principal),
            token: Some(token),
            name: format!("{token_name} (token of {principal_name})"),
            address: address.map(|a| a.to_string()),
        }
    }

    /// Someone not signed in, such as a failed sign-in.
    pub fn anonymous(address: Option<IpAddr>) -> Actor {
        Actor::nobody(ActorKind::Anonymous, "Anonymous", address)
    }

    /// Whoever reported an exposed token.
    pub fn reporter(address: Option<IpAddr>) -> Actor {
        Actor::nobody(ActorKind::Anonymous, "Anonymous reporter", address)
    }

    /// `tokenwell create-admin` / `create-user`, run on the server.
    pub fn command_line() -> Actor {
        Actor::nobody(ActorKind::CommandLine, "Command line", None)
    }

    /// The user whose rights the change needs (an admin's re-check runs on it).
    pub fn acting_user(&self) -> Result<UserId, StoreError> {
        self.user.ok_or(StoreError::NotPermitted)
    }

    fn nobody(kind: ActorKind, name: &str, address: Option<IpAddr>) -> Actor {
        Actor {
            kind,
            user: None,
            token: None,
            name: name.to_string(),
            address: address.map(|a| a.to_string()),
        }
    }
}

/// A text filter with at most this many matches is answered through the search index, and
/// counted exactly; one with more, by reading the log newest first (`listing`).
const FEW_MATCHES: u64 = 1_000;

/// Events the SQLite search indexer adds per transaction.
const INDEX_BATCH: u32 = 5_000;

/// An FTS5 query for rows whose text holds `needle` (at least three characters), as the
/// trigram tokenizer reads a quoted phrase; quotes inside are doubled.
fn trigram_query(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
}

/// What happened to what, for `record_event!`.
#[derive(Debug)]
pub(super) struct Event<'a> {
    pub action: AuditAction,
    pub target: Option<(TargetKind, i64, &'a str)>,
    /// A short note that never holds a secret: "member → admin", "API/CLI token".
    pub detail: String,
}

impl<'a> Event<'a> {
    pub fn new(action: AuditAction) -> Event<'a> {
        Event { action, target: None, detail: String::new() }
    }

    pub fn on(mut self, kind: TargetKind, id: i64, name: &'a str) -> Event<'a> {
        self.target = Some((kind, id, name));
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Event<'a> {
        self.detail = detail.into();
        self
    }

    /// What "Filter events" matches: the actor's and the target's names, lowercased here
    /// (Unicode-aware, alike on both backends).
    pub fn search_key(&self, actor: &Actor) -> String {
        let target = self.target.map(|(_, _, name)| name).unwrap_or_default();
        format!("{}\n{}", actor.name, target).to_lowercase()
    }
}

/// The audit table and its columns, in the order `bind_event!` binds them.
macro_rules! event_columns {
    () => {
        "audit_events (organization_id, created_at, action, actor_kind, actor_user_id, \
         actor_token_id, actor_name, target_kind, target_id, target_name, address, detail, \
         search_key)"
    };
}

/// Binds one event's values, in the order of `event_columns!`, to a query of either backend.
macro_rules! bind_event {
    ($query:expr, $org:expr, $actor:expr, $event:expr, $now:expr) => {{
        let actor: &$crate::server::db::Actor = $actor;
        let event: &$crate::server::db::audit::Event<'_> = $event;
        let (target_kind, target_id, target_name) = match event.target {
            Some((kind, id, name)) => {
                (Some($crate::model::Choice::as_str(kind)), Some(id), Some(name))
            }
            None => (None, None, None),
        };
        $query
            .bind($org)
            .bind($now)
            .bind($crate::model::Choice::as_str(event.action))
            .bind($crate::model::Choice::as_str(actor.kind))
            .bind(actor.user)
            .bind(actor.token)
            .bind(actor.name.as_str())
            .bind(target_kind)
            .bind(target_id)
            .bind(target_name)
            .bind(actor.address.as_deref())
            .bind(event.detail.as_str())
            .bind(event.search_key(actor))
    }};
}

/// Appends one event on `$conn` (a transaction of either backend), in a statement of its own.
macro_rules! record_event {
    ($conn:expr, $org:expr, $actor:expr, $event:expr, $now:expr) => {{
        let event: $crate::server::db::audit::Event<'_> = $event;
        $crate::server::db::audit::bind_event!(
            sqlx::query(concat!(
                "INSERT INTO ",
                $crate::server::db::audit::event_columns!(),
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            )),
            $org,
            $actor,
            &event,
            $now
        )
        .execute($conn)
        .await
        .map(|_| ())
    }};
}

/// Runs `$query` (built from `$sql`, a statement with `$own` parameters of its own, by
/// `|sql| …`) on `$conn` with `$run` (`fetch_optional`, `execute`, …), and appends the event
/// `[$org, $actor, $event, $now]` in the same call. For a statement that runs only once its
/// change is certain: a read-back of the changed row, or the change itself.
///
/// The event costs no round trip of its own (a separate insert added 18–22 % to a change on
/// PostgreSQL at two-core loopback latencies, issue 11): PostgreSQL runs it as a common table
/// expression in front of the statement (`WITH audit_event AS (INSERT …) …`, executed once,
/// whatever the statement reads); SQLite as a statement before it in the same query text,
/// which its driver runs in one call, binding `$N` in each statement by number.
macro_rules! carrying_event {
    ($conn:expr, [$org:expr, $actor:expr, $event:expr, $now:expr], $sql:expr, $own:literal,
     |$text:ident| $query:expr, $run:ident) => {{
        let conn = $conn;
        let event: $crate::server::db::audit::Event<'_> = $event;
        let carried = $crate::server::db::audit::with_event(&*conn, $sql, $own);
        let $text: &str = &carried;
        $crate::server::db::audit::bind_event!($query, $org, $actor, &event, $now).$run(conn).await
    }};
}

/// Runs `$sql`, a change of at most one row with `$own` parameters of its own bound by
/// `|sql| …`, on `$conn`, and appends the event `[$org, $actor, $event, $now]` in the same
/// call only when it changed a row; evaluates to whether it did. For a change whose success
/// is known only from its row count, so that no later statement could carry the event.
///
/// PostgreSQL: `WITH changed AS (<change> RETURNING 1), audit_event AS (INSERT … SELECT …
/// FROM changed) SELECT count(*) FROM changed`. SQLite: `<change>; INSERT … SELECT … WHERE
/// changes() > 0; SELECT changes()` in one query text (`changes()` is the row count of the
/// connection's last insert, update or delete).
macro_rules! changing_with_event {
    ($conn:expr, [$org:expr, $actor:expr, $event:expr, $now:expr], $sql:expr, $own:literal,
     |$text:ident| $query:expr) => {{
        let conn = $conn;
        let event: $crate::server::db::audit::Event<'_> = $event;
        let carried = $crate::server::db::audit::change_with_event(&*conn, $sql, $own);
        let $text: &str = &carried;
        $crate::server::db::audit::bind_event!($query, $org, $actor, &event, $now)
            .fetch_one(conn)
            .await
            .map(|changed: i64| changed > 0)
    }};
}

/// Runs `$sql`, an insert of at most one row ending in `RETURNING id` with `$own` parameters
/// bound by `|$query| …` (given the query), on `$conn`, and appends `$event` about the new
/// row (its target id, 0 here, becomes the row's) when it inserted one; evaluates to the
/// new row's id. For an insert whose event names the row it makes.
///
/// The target id's own parameter is bound and unused. PostgreSQL: `WITH changed AS
/// (<insert>), audit_event AS (INSERT … SELECT …, changed.id, … FROM changed) SELECT id FROM
/// changed`. SQLite, in one query text: `<insert without RETURNING>; INSERT … SELECT …,
/// last_insert_rowid(), … WHERE changes() > 0; SELECT target_id FROM audit_events WHERE id =
/// last_insert_rowid() AND changes() > 0` (the new row's id, read back from its event).
macro_rules! inserting_with_event {
    ($conn:expr, [$org:expr, $actor:expr, $event:expr, $now:expr], $sql:expr, $own:literal,
     |$query:ident| $binds:expr) => {{
        let conn = $conn;
        let event: $crate::server::db::audit::Event<'_> = $event;
        let carried = $crate::server::db::audit::insert_with_event(&*conn, $sql, $own);
        let $query = sqlx::query_scalar::<_, i64>(&carried);
        $crate::server::db::audit::bind_event!($binds, $org, $actor, &event, $now)
            .fetch_optional(conn)
            .await
    }};
}

pub(crate) use {
    bind_event, carrying_event, changing_with_event, event_columns, inserting_with_event,
    record_event,
};

/// `sql`, an insert of at most one row ending in `RETURNING id` with `own` parameters, with
/// the insert of its event, whose target id is the new row's, answering that id
/// (`inserting_with_event!`).
pub(crate) fn insert_with_event<C: sqlx::Connection>(_: &C, sql: &str, own: usize) -> String {
    let postgres = <C::Database as Database>::NAME == "PostgreSQL";
    // The event's ninth column, target_id: the new row's id instead of its parameter.
    let new_id = if postgres { "changed.id" } else { "last_insert_rowid()" };
    let values: Vec<String> = (own + 1..=own + 13)
        .map(|n| if n == own + 9 { new_id.to_string() } else { format!("${n}") })
        .collect();
    let (columns, values) = (event_columns!(), values.join(", "));
    if postgres {
        format!(
            "WITH changed AS ({sql}), audit_event AS (INSERT INTO {columns} SELECT {values} \
             FROM changed) SELECT id FROM changed"
        )
    } else {
        let insert = sql.strip_suffix(" RETURNING id").expect("an insert ending in RETURNING id");
        format!(
            "{insert}; INSERT INTO {columns} SELECT {values} WHERE changes() > 0; \
             SELECT target_id FROM audit_events WHERE id = last_insert_rowid() AND changes() > 0"
        )
    }
}

/// `$own + 1` to `$own + 13`: the event's parameters after a statement's own.
fn event_parameters(own: usize) -> String {
    let values: Vec<String> = (own + 1..=own + 13).map(|n| format!("${n}")).collect();
    values.join(", ")
}

/// `sql`, a change of at most one row with `own` parameters, with the insert of one event
/// when it changes a row, answering how many it changed (`changing_with_event!`).
pub(crate) fn change_with_event<C: sqlx::Connection>(_: &C, sql: &str, own: usize) -> String {
    let (columns, values) = (event_columns!(), event_parameters(own));
    if <C::Database as Database>::NAME == "PostgreSQL" {
        format!(
            "WITH changed AS ({sql} RETURNING 1), \
             audit_event AS (INSERT INTO {columns} SELECT {values} FROM changed) \
             SELECT count(*) FROM changed"
        )
    } else {
        format!(
            "{sql}; INSERT INTO {columns} SELECT {values} WHERE changes() > 0; SELECT changes()"
        )
    }
}

/// `sql` (a statement with `own` parameters) together with the insert of one event whose
/// values are the parameters `own + 1` to `own + 13`, bound after the statement's own by
/// `bind_event!`, in the form `conn`'s backend runs in one call (`carrying_event!`).
pub(crate) fn with_event<C: sqlx::Connection>(_: &C, sql: &str, own: usize) -> String {
    let insert = format!("INSERT INTO {} VALUES ({})", event_columns!(), event_parameters(own));
    if <C::Database as Database>::NAME == "PostgreSQL" {
        format!("WITH audit_event AS ({insert}) {sql}")
    } else {
        format!("{insert}; {sql}")
    }
}

const EVENT_SELECT: &str = "SELECT e.id, e.created_at, e.action, e.actor_kind, e.actor_name, \
     e.target_kind, e.target_id, e.target_name, e.address, e.detail FROM audit_events e";

#[derive(sqlx::FromRow)]
struct EventRecord {
    id: i64,
    created_at: i64,
    action: String,
    actor_kind: String,
    actor_name: String,
    target_kind: Option<String>,
    target_id: Option<i64>,
    target_name: Option<String>,
    address: Option<String>,
    detail: String,
}

impl From<EventRecord> for AuditEvent {
    fn from(r: EventRecord) -> AuditEvent {
        AuditEvent {
            id: r.id,
            at: r.created_at,
            action: AuditAction::parse(&r.action).unwrap_or(AuditAction::OrganizationCreated),
            actor_kind: ActorKind::parse(&r.actor_kind).unwrap_or(ActorKind::Anonymous),
            actor: r.actor_name,
            target_kind: r.target_kind.as_deref().and_then(TargetKind::parse),
            target_id: r.target_id,
            target: r.target_name,
            address: r.address,
            detail: r.detail,
        }
    }
}

/// The events `query` selects (its page aside), newest first from `before` (an event id)
/// when given; `select` is the rows or their count.
fn listing<'a, DB>(
    select: &str,
    organization: OrgId,
    query: &AuditQuery,
    before: Option<i64>,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    OrgId: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(select);
    qb.push(" WHERE e.organization_id = ").push_bind(organization);
    if let Some(action) = query.action {
        qb.push(" AND e.action = ").push_bind(action.as_str().to_string());
    }
    let needle = query.q.trim().to_lowercase();
    if !needle.is_empty() {
        qb.push(" AND e.search_key LIKE ")
            .push_bind(contains_pattern(&needle))
            .push(" ESCAPE '\\'");
    }
    if let Some(before) = before {
        qb.push(" AND e.id < ").push_bind(before);
    }
    qb
}

impl Store {
    /// One page of the organization's events, newest first, with the total that matches.
    pub async fn list_events(
        &self,
        organization: OrgId,
        query: &AuditQuery,
        now: i64,
    ) -> Result<Page<AuditEvent>, StoreError> {
        let per_page = EVENTS_PER_PAGE;
        let requested = (query.page.max(1) as u64 - 1) * per_page as u64;
        if let Some(found) = self.few_text_matches(organization, query).await? {
            return self.page_of_ids(organization, found, requested, now).await;
        }
        // Counted up to one more than EVENTS_COUNTED, to know whether there are more.
        const COUNT: &str = "SELECT count(*) FROM (SELECT 1 FROM audit_events e";
        // A text filter's queries are planned for their pattern each time (not kept as
        // prepared statements): PostgreSQL's generic plan for `LIKE $n` cannot tell a common
        // pattern from a rare one, and took the trigram index for both (a common filter's
        // first page 12 → 30 ms at a million events).
        let keep = query.q.trim().is_empty();
        let (total, more, rows, offset) = read_db!(self, db => {
            let mut count = listing(COUNT, organization, query, None);
            count.push(" LIMIT ").push_bind(EVENTS_COUNTED as i64 + 1).push(") counted");
            let mut page = listing(EVENT_SELECT, organization, query, None);
            push_page(&mut page, "e.id DESC", per_page, requested);
            // On PostgreSQL a text filter's first page is read before its count: a page that
            // is not full is the whole count, and the count's own walk of the trigram index
            // is skipped (rare text p95 16 → 11 ms at a million events). Elsewhere both run
            // at once: SQLite answers rare text through `few_text_matches` already, and a
            // full page would only wait for its count.
            let text_on_postgres = !keep && matches!(self.backend, Backend::Postgres(..));
            let (total, rows) = if text_on_postgres && requested == 0 {
                let rows =
                    page.build_query_as::<EventRecord>().persistent(keep).fetch_all(db).await?;
                if rows.len() < per_page as usize {
                    (rows.len() as i64, rows)
                } else {
                    (count.build_query_scalar::<i64>().persistent(keep).fetch_one(db).await?, rows)
                }
            } else {
                tokio::try_join!(
                    count.build_query_scalar::<i64>().persistent(keep).fetch_one(db),
                    page.build_query_as::<EventRecord>().persistent(keep).fetch_all(db),
                )?
            };
            let total = total.max(0) as u64;
            let more = total > EVENTS_COUNTED;
            let total = total.min(EVENTS_COUNTED);
            let offset = clamp_offset(requested, total, per_page);
            let rows = if offset == requested {
                rows
            } else {
                let mut page = listing(EVENT_SELECT, organization, query, None);
                push_page(&mut page, "e.id DESC", per_page, offset);
                page.build_query_as::<EventRecord>().persistent(keep).fetch_all(db).await?
            };
            (total, more, rows, offset)
        });
        Ok(Page {
            rows: rows.into_iter().map(AuditEvent::from).collect(),
            total,
            more,
            page: (offset / per_page as u64) as u32 + 1,
            per_page,
            now,
        })
    }

    /// SQLite: the ids of every event a text filter selects, newest first, when the search
    /// index finds no more than FEW_MATCHES candidates in the whole log; `None` when the
    /// filter has no text of at least three characters (the index holds trigrams), matches
    /// more, or the backend is PostgreSQL.
    ///
    /// A filter that matches almost nothing would otherwise read the organization's whole
    /// index; one that matches often is answered faster in id order, by `listing`, which
    /// stops after a page. The FTS5 trigram table only narrows: every candidate is checked
    /// against the same `LIKE` as `listing` uses. PostgreSQL needs none of this: its planner
    /// takes the `pg_trgm` GIN index for `listing`'s own `LIKE` when it expects few matches
    /// (asking the index first, as here, cost a common filter 10–60 ms more there).
    async fn few_text_matches(
        &self,
        organization: OrgId,
        query: &AuditQuery,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let needle = query.q.trim().to_lowercase();
        if needle.chars().count() < 3 {
            return Ok(None);
        }
        let Backend::Sqlite(pools) = &self.backend else { return Ok(None) };
        let db = &pools.read;
        let limit = FEW_MATCHES as i64 + 1;
        // The events indexed so far, and up to which event they go.
        let (indexed_to, candidates) = tokio::join!(
            sqlx::query_scalar::<_, i64>("SELECT indexed_to FROM audit_search_state").fetch_one(db),
            sqlx::query_scalar::<_, i64>(
                "SELECT rowid FROM audit_search WHERE audit_search MATCH $1 LIMIT $2",
            )
            .bind(trigram_query(&needle))
            .bind(limit)
            .fetch_all(db),
        );
        let indexed_to = indexed_to?;
        // FTS5 refuses some text as a query (a NUL, say): the scan answers that instead.
        let candidates = match candidates {
            Ok(found) if (found.len() as i64) < limit => found,
            Ok(_) => return Ok(None),
            Err(e) => {
                tracing::debug!("the audit search index refused a filter: {e}");
                return Ok(None);
            }
        };
        // The candidates that match, then the events after the index (a few seconds' worth):
        // two queries, not an OR, which would read the organization's whole index.
        const IDS: &str = "SELECT e.id FROM audit_events e";
        let mut indexed = listing(IDS, organization, query, None);
        indexed.push(" AND e.id IN (");
        let mut list = indexed.separated(", ");
        list.push_bind(0i64);
        for id in &candidates {
            list.push_bind(*id);
        }
        indexed.push(")");
        let mut newer = listing(IDS, organization, query, None);
        newer.push(" AND e.id > ").push_bind(indexed_to);
        let (mut ids, newer) = tokio::try_join!(
            indexed.build_query_scalar::<i64>().persistent(false).fetch_all(db),
            newer.build_query_scalar::<i64>().fetch_all(db),
        )?;
        ids.extend(newer);
        if ids.len() > FEW_MATCHES as usize {
            return Ok(None);
        }
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(Some(ids))
    }

    /// SQLite: adds up to `batch` events not yet in the search index to it, in one write
    /// transaction; returns how many. Run in the background (`start_search_indexer`); what
    /// it has not reached yet is found by reading it. PostgreSQL keeps its index itself.
    pub async fn index_audit_search(&self, batch: u32) -> Result<u64, StoreError> {
        let Backend::Sqlite(_) = &self.backend else { return Ok(0) };
        Ok(transaction!(self, tx => {
            let to: i64 = sqlx::query_scalar("SELECT indexed_to FROM audit_search_state")
                .fetch_one(&mut *tx)
                .await?;
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT max(id) FROM (SELECT id FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2) b",
            )
            .bind(to)
            .bind(batch as i64)
            .fetch_one(&mut *tx)
            .await?;
            match last {
                None => 0,
                Some(last) => {
                    let added = sqlx::query(
                        "INSERT INTO audit_search (rowid, search_key) \
                         SELECT id, search_key FROM audit_events WHERE id > $1 AND id <= $2",
                    )
                    .bind(to)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    sqlx::query("UPDATE audit_search_state SET indexed_to = $1")
                        .bind(last)
                        .execute(&mut *tx)
                        .await?;
                    added
                }
            }
        }))
    }

    /// SQLite: keeps the search index up with the log, every second, for as long as the
    /// runtime runs. Does nothing on PostgreSQL.
    pub fn start_search_indexer(&self) {
        let Backend::Sqlite(_) = &self.backend else { return };
        let store = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                every.tick().await;
                loop {
                    match store.index_audit_search(INDEX_BATCH).await {
                        Ok(added) if added == INDEX_BATCH as u64 => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!("could not index the audit log for search: {e}");
                            break;
                        }
                    }
                }
            }
        });
    }

    /// The page at `requested` (an offset) of `ids`, every matching event newest first.
    async fn page_of_ids(
        &self,
        organization: OrgId,
        ids: Vec<i64>,
        requested: u64,
        now: i64,
    ) -> Result<Page<AuditEvent>, StoreError> {
        let per_page = EVENTS_PER_PAGE;
        let total = ids.len() as u64;
        let offset = clamp_offset(requested, total, per_page);
        let shown: Vec<i64> =
            ids.iter().skip(offset as usize).take(per_page as usize).copied().collect();
        let rows = if shown.is_empty() {
            Vec::new()
        } else {
            read_db!(self, db => {
                let mut qb = QueryBuilder::new(EVENT_SELECT);
                qb.push(" WHERE e.organization_id = ").push_bind(organization).push(" AND e.id IN (");
                let mut list = qb.separated(", ");
                for id in &shown {
                    list.push_bind(*id);
                }
                qb.push(") ORDER BY e.id DESC");
                qb.build_query_as::<EventRecord>().fetch_all(db).await?
            })
        };
        Ok(Page {
            rows: rows.into_iter().map(AuditEvent::from).collect(),
            total,
            more: false,
            page: (offset / per_page as u64) as u32 + 1,
            per_page,
            now,
        })
    }

    /// Up to `limit` events that `query` selects (its page aside), newest first, older than
    /// the event `before` when given: an export reads the log in such batches, so it holds
    /// one batch in memory and no connection between batches.
    pub async fn events_before(
        &self,
        organization: OrgId,
        query: &AuditQuery,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = read_db!(self, db => {
            let mut qb = listing(EVENT_SELECT, organization, query, before);
            qb.push(" ORDER BY e.id DESC LIMIT ").push_bind(limit as i64);
            qb.build_query_as::<EventRecord>().fetch_all(db).await?
        });
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    /// Records an event that changes nothing else: a failed sign-in.
    pub async fn record_event(
        &self,
        organization: OrgId,
        actor: &Actor,
        action: AuditAction,
        target: Option<(TargetKind, i64, &str)>,
        now: i64,
    ) -> Result<(), StoreError> {
        let event = Event { action, target, detail: String::new() };
        transaction!(self, tx => record_event!(&mut *tx, organization, actor, event, now)?);
        Ok(())
    }

    /// Lets the benchmark seed many events quickly, in one statement (not used by request
    /// handlers): `count` events over the 14 actions, four actors and as many targets, one
    /// second apart up to `now`. ASCII names, so SQL's `lower()` makes the search key.
    pub async fn seed_events(
        &self,
        organization: OrgId,
        count: u32,
        now: i64,
    ) -> Result<(), StoreError> {
        let actions: String = AuditAction::ALL
            .iter()
            .enumerate()
            .map(|(i, a)| format!(" WHEN {i} THEN '{}'", a.as_str()))
            .collect();
        let actor = "CASE i % 4 WHEN 0 THEN 'Ada' WHEN 1 THEN 'Grace' WHEN 2 THEN 'Linus' \
                     ELSE 'ci (token of Ada)' END";
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $2) \
             INSERT INTO audit_events (organization_id, created_at, action, actor_kind, actor_name, \
             target_kind, target_id, target_name, address, detail, search_key) \
             SELECT $1, $3 - ($2 - i), CASE i % {}{actions} END, 'user', {actor}, 'token', i, \
             'token-' || i, '10.0.0.' || (i % 250), '', lower({actor} || ' token-' || i) FROM n",
            AuditAction::ALL.len(),
        );
        transaction!(self, tx => {
            sqlx::query(&sql)
                .bind(organization)
                .bind(count as i64)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{acme, by, fresh_store, org_of, person};
    use super::*;
    use crate::{
        domain::TokenName,
        model::{Role, TokenKind, UserStatus},
        server::{db::NewFile, token_secret::TokenSecret},
    };

    async fn events(store: &Store) -> i64 {
        store.scalar_for_test("SELECT count(*) FROM audit_events", &[]).await
    }

    async fn last(store: &Store, org: OrgId) -> AuditEvent {
        let query = AuditQuery::default();
        store.list_events(org, &query, 0).await.unwrap().rows.remove(0)
    }

    fn name(n: &str) -> TokenName {
        TokenName::parse(n).unwrap()
    }

    /// An event carried by the statement after its change (`carrying_event!`) or by the
    /// change itself (`changing_with_event!`), with no statement of its own, is the same row
    /// as one written by `record_event!`, every value in its column; a change of no row writes
    /// none, and when the statement that carries it fails, the event is not written.
    #[tokio::test]
    async fn a_carried_event_is_the_row_record_event_writes_and_goes_with_its_statement() {
        let (store, _db, ada, org) = acme().await;
        let from: Option<IpAddr> = Some("2001:db8::7".parse().unwrap());
        let actor = Actor::token(TokenId(9), "ci", ada, "Ada", from);
        let event = || {
            Event::new(AuditAction::RoleChanged).on(TargetKind::User, 42, "Ärger").detail("a → b")
        };
        const READ: &str = "SELECT name FROM organizations WHERE id = $1";
        let both = async {
            transaction!(store, tx => {
                record_event!(&mut *tx, org, &actor, event(), 77i64)?;
                let read: String = carrying_event!(
                    &mut *tx,
                    [org, &actor, event(), 77i64],
                    READ,
                    1,
                    |sql| sqlx::query_scalar::<_, String>(sql).bind(org),
                    fetch_one
                )?;
                assert_eq!(read, "Acme", "the carrying statement's own answer");
                // A change of one row writes its event; a change of none, none.
                for (id, changes) in [(org.0, true), (-1, false)] {
                    let changed = changing_with_event!(
                        &mut *tx,
                        [org, &actor, event(), 77i64],
                        "UPDATE organizations SET name = name WHERE id = $1",
                        1,
                        |sql| sqlx::query_scalar(sql).bind(id)
                    )?;
                    assert_eq!(changed, changes, "organization {id}");
                }
                // An insert's event names the new row; an insert of none writes none.
                for (name, inserts) in [("Initech", 1i64), ("Umbrella", 0)] {
                    let id = inserting_with_event!(
                        &mut *tx,
                        [org, &actor, event(), 79i64],
                        "INSERT INTO organizations (name, name_key, created_at) \
                         SELECT $1, $1, 0 WHERE $2 > 0 RETURNING id",
                        2,
                        |query| query.bind(name).bind(inserts)
                    )?;
                    assert_eq!(id.is_some(), inserts > 0, "{name}");
                }
            });
            Ok::<(), StoreError>(())
        };
        both.await.unwrap();
        let columns = "organization_id, created_at, action, actor_kind, actor_user_id, \
                       actor_token_id, actor_name, target_kind, target_id, target_name, address, \
                       detail, search_key";
        let count = |sql: String| {
            let store = store.clone();
            async move { store.scalar_for_test(&sql, &[]).await }
        };
        let at_77 = "FROM audit_events WHERE created_at = 77";
        let initech: i64 =
            count("SELECT id FROM organizations WHERE name = 'Initech'".into()).await;
        assert_eq!(
            count(format!(
                "SELECT count(*) FROM audit_events WHERE created_at = 79 AND target_id = {initech}"
            ))
            .await,
            1,
            "one event, about the new row"
        );
        let others = columns.replace("created_at, ", "").replace("target_id, ", "");
        assert_eq!(
            count(format!(
                "SELECT count(*) FROM (SELECT DISTINCT {others} FROM audit_events \
                 WHERE created_at IN (77, 79)) d"
            ))
            .await,
            1,
            "the inserted row's event differs in more than its target"
        );
        assert_eq!(count(format!("SELECT count(*) {at_77}")).await, 3);
        assert_eq!(
            count(format!("SELECT count(*) FROM (SELECT DISTINCT {columns} {at_77}) d")).await,
            1,
            "the two rows differ"
        );
        let found = store
            .list_events(org, &AuditQuery { q: "ärger".into(), ..Default::default() }, 0)
            .await
            .unwrap();
        let e = &found.rows[0];
        assert_eq!(
            (found.total, e.action, e.actor.as_str(), e.target.as_deref(), e.address.as_deref()),
            (4, AuditAction::RoleChanged, "ci (token of Ada)", Some("Ärger"), Some("2001:db8::7"))
        );

        let failed = async {
            transaction!(store, tx => {
                carrying_event!(
                    &mut *tx,
                    [org, &actor, event(), 78i64],
                    "SELECT name FROM no_such_table WHERE id = $1",
                    1,
                    |sql| sqlx::query_scalar::<_, String>(sql).bind(org),
                    fetch_one
                )?;
            });
            Ok::<(), StoreError>(())
        };
        assert!(failed.await.is_err());
        assert_eq!(
            count("SELECT count(*) FROM audit_events WHERE created_at = 78".into()).await,
            0
        );
    }

    /// Each change writes exactly one event, with it; a change that fails writes none.
    #[tokio::test]
    async fn every_change_writes_exactly_one_event_and_a_failed_one_none() {
        let (store, _db) = fresh_store().await;
        let from: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
        let ada = store
            .setup_first_admin("Acme", person("Ada", "ada@acme.test"), from, 10)
            .await
            .unwrap();
        let org = org_of(&store, ada).await;
        let ada_by = Actor::user(ada, "Ada", from);
        assert_eq!(events(&store).await, 1);
        let e = last(&store, org).await;
        assert_eq!(
            (e.action, e.actor.as_str(), e.target.as_deref(), e.address.as_deref()),
            (AuditAction::OrganizationCreated, "Ada", Some("Acme"), Some("192.0.2.7"))
        );

        // Each step: the change, then the action it must have recorded.
        let mut n = 1;
        let mut expect = |store: &Store, action: AuditAction| {
            n += 1;
            let store = store.clone();
            async move {
                assert_eq!(events(&store).await, n, "{action:?}");
                assert_eq!(last(&store, org).await.action, action);
            }
        };
        store.create_session(b"s1", ada, 20, 3_600, Some((org, &ada_by))).await.unwrap();
        expect(&store, AuditAction::SignedIn).await;
        let bob = store
            .add_user(org, &ada_by, person("Bob", "bob@acme.test"), Role::Member, 21)
            .await
            .unwrap();
        expect(&store, AuditAction::UserAdded).await;
        store.set_role(org, &ada_by, bob.id, Role::Admin, 22).await.unwrap();
        expect(&store, AuditAction::RoleChanged).await;
        assert_eq!(last(&store, org).await.detail, "Member → Admin");
        store.set_status(org, &ada_by, bob.id, UserStatus::Disabled, 23).await.unwrap();
        expect(&store, AuditAction::UserDisabled).await;
        store.set_status(org, &ada_by, bob.id, UserStatus::Active, 24).await.unwrap();
        expect(&store, AuditAction::UserEnabled).await;
        store.reset_password(org, &ada_by, bob.id, "$argon2id$x", 25).await.unwrap();
        expect(&store, AuditAction::PasswordChanged).await;
        store.set_password(org, &ada_by, "$argon2id$y", 26).await.unwrap();
        expect(&store, AuditAction::PasswordChanged).await;
        let secret = TokenSecret::generate(TokenKind::Api).unwrap();
        let cli = store.create_token(org, &ada_by, &name("cli"), &secret, 27).await.unwrap();
        expect(&store, AuditAction::TokenGenerated).await;
        let (cli2, _) = store.regenerate_token(org, cli.id, &ada_by, 28).await.unwrap();
        expect(&store, AuditAction::TokenRegenerated).await;
        let as_token = Actor::token(cli2.id, "cli", ada, "Ada", from);
        let file = NewFile { name: "f.txt", size: 3, sha256: "ab", token: cli2.id, principal: ada };
        store.insert_file(org, &as_token, file, 29, 1_000).await.unwrap().unwrap();
        expect(&store, AuditAction::FileUploaded).await;
        assert_eq!(last(&store, org).await.actor, "cli (token of Ada)");
        store.revoke_token(org, cli2.id, &as_token, 30).await.unwrap();
        expect(&store, AuditAction::TokenRevoked).await;
        let leaked = TokenSecret::generate(TokenKind::Forwarder).unwrap();
        store.create_token(org, &ada_by, &name("dc-east"), &leaked, 31).await.unwrap();
        expect(&store, AuditAction::TokenGenerated).await;
        let reported =
            store.report_exposed(&[leaked.digest()], &Actor::reporter(from), 32).await.unwrap();
        assert_eq!(reported, 1);
        expect(&store, AuditAction::TokenReportedExposed).await;
        // Changing the password ended s1; a session started since then ends by signing out.
        store.create_session(b"s2", ada, 33, 3_600, None).await.unwrap();
        store.delete_session(b"s2", org, &ada_by, 33).await.unwrap();
        expect(&store, AuditAction::SignedOut).await;

        // Failed and empty changes record nothing.
        let before = events(&store).await;
        let taken = TokenSecret::generate(TokenKind::Api).unwrap();
        store.create_token(org, &ada_by, &name("x"), &taken, 40).await.unwrap();
        let after_create = events(&store).await;
        assert_eq!(after_create, before + 1);
        let again = TokenSecret::generate(TokenKind::Forwarder).unwrap();
        assert!(store.create_token(org, &ada_by, &name("X"), &again, 41).await.is_err());
        assert!(store
            .add_user(org, &ada_by, person("B2", "bob@acme.test"), Role::Member, 42)
            .await
            .is_err());
        assert!(store.set_role(org, &ada_by, ada, Role::Member, 43).await.is_err());
        store.set_role(org, &ada_by, bob.id, Role::Admin, 44).await.unwrap(); // no change
        store.revoke_token(org, cli2.id, &ada_by, 45).await.unwrap(); // revoked already
        assert!(store.regenerate_token(org, cli2.id, &ada_by, 46).await.is_err());
        assert_eq!(
            store.report_exposed(&[leaked.digest()], &Actor::reporter(from), 47).await.unwrap(),
            0
        );
        store.delete_session(b"gone", org, &ada_by, 48).await.unwrap();
        let quota =
            NewFile { name: "big", size: 10_000, sha256: "cd", token: cli.id, principal: ada };
        assert!(store.insert_file(org, &as_token, quota, 49, 1_000).await.unwrap().is_none());
        // A demoted admin's change is refused, and so is its event.
        let bob_by = Actor::user(bob.id, "Bob", None);
        store.set_role(org, &ada_by, bob.id, Role::Member, 50).await.unwrap();
        let after_demote = events(&store).await;
        let late = TokenSecret::generate(TokenKind::Api).unwrap();
        assert!(matches!(
            store.create_token(org, &bob_by, &name("late"), &late, 51).await,
            Err(StoreError::NotPermitted)
        ));
        assert_eq!(events(&store).await, after_demote);
        assert_eq!(after_demote, after_create + 1);
    }

    /// A text filter answered through the search index (few matches) lists exactly what the
    /// `LIKE` scan of the export selects, page by page, in this organization only.
    #[tokio::test]
    async fn the_search_index_answers_exactly_as_the_scan() {
        let (store, _db, ada, org) = acme().await;
        let hank = store
            .create_user("Globex", person("Hank", "hank@globex.test"), Role::Admin, 0)
            .await
            .unwrap();
        let globex = org_of(&store, hank).await;
        let names =
            ["Straße-1", "STRASSE-2", "quote\"d", "50%-off", "ci-runner", "ci_runner", "Ünïcode"];
        // Three states of the SQLite index: nothing indexed (every event read), all indexed
        // (in batches of 7), and indexed up to a point with newer events after it.
        for (round, events) in [(0, 0..40), (1, 40..60), (2, 60..70)] {
            if round == 1 {
                while store.index_audit_search(7).await.unwrap() > 0 {}
            }
            for i in events {
                let n = format!("{}-{i}", names[i % names.len()]);
                let secret = TokenSecret::generate(TokenKind::Api).unwrap();
                store
                    .create_token(org, &Actor::user(ada, "Ada", None), &name(&n), &secret, i as i64)
                    .await
                    .unwrap();
                let secret = TokenSecret::generate(TokenKind::Api).unwrap();
                store.create_token(globex, &by(hank), &name(&n), &secret, i as i64).await.unwrap();
            }
            for q in [
                "\"\"\"",
                "straße",
                "strasse",
                "quote\"d",
                "50%",
                "ci-r",
                "ci_r",
                "ünï",
                "-4",
                "ada",
                "nothing here",
            ] {
                for action in [None, Some(AuditAction::TokenGenerated), Some(AuditAction::SignedIn)]
                {
                    let query = AuditQuery { q: q.into(), action, page: 1 };
                    let scanned: Vec<i64> = store
                        .events_before(org, &query, None, 10_000)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|e| e.id)
                        .collect();
                    let mut listed = Vec::new();
                    for page in 1..=3 {
                        let got = store
                            .list_events(org, &AuditQuery { page, ..query.clone() }, 0)
                            .await
                            .unwrap();
                        assert_eq!(got.total, scanned.len() as u64, "{q:?} {action:?}");
                        if got.page == page {
                            listed.extend(got.rows.iter().map(|e| e.id));
                        }
                    }
                    assert_eq!(
                        listed,
                        scanned.iter().copied().take(75).collect::<Vec<_>>(),
                        "{q:?} {action:?}"
                    );
                }
            }
        }
    }

    /// Beyond EVENTS_COUNTED matches the count stops and says so; paging ends there.
    #[tokio::test]
    async fn a_long_log_is_counted_up_to_a_limit() {
        let (store, _db, _, org) = acme().await;
        store.seed_events(org, EVENTS_COUNTED as u32 + 10, 1_000_000).await.unwrap();
        let all = store.list_events(org, &AuditQuery::default(), 0).await.unwrap();
        assert_eq!((all.total, all.more), (EVENTS_COUNTED, true));
        let last = AuditQuery { page: 10_000, ..Default::default() };
        let end = store.list_events(org, &last, 0).await.unwrap();
        assert_eq!((end.page, end.rows.len()), (EVENTS_COUNTED as u32 / EVENTS_PER_PAGE, 25));
        // Below the limit the count is exact.
        let grace = AuditQuery { q: "grace".into(), action: Some(AuditAction::SignedIn), page: 1 };
        let few = store.list_events(org, &grace, 0).await.unwrap();
        assert!(!few.more);
        // The seed's row i has action i % n and actor i % 4: Grace signs in every lcm(n, 4).
        let n = AuditAction::ALL.len() as u64;
        let every = (1..=4).map(|k| n * k).find(|m| m % 4 == 0).unwrap();
        assert_eq!(few.total, (EVENTS_COUNTED + 10 - 1).div_ceil(every));
    }

    #[tokio::test]
    async fn the_database_refuses_to_change_or_delete_an_event() {
        let (store, _db) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        for sql in [
            "UPDATE audit_events SET actor_name = 'Mallory'",
            "UPDATE audit_events SET action = 'signed_in' WHERE id = 1",
            "DELETE FROM audit_events",
            "DELETE FROM audit_events WHERE id = 1",
        ] {
            let refused = store.try_execute_for_test(sql, &[]).await;
            assert!(refused.is_err(), "{sql}");
            assert!(format!("{:?}", refused.unwrap_err()).contains("append-only"), "{sql}");
        }
        let org = org_of(&store, ada).await;
        assert_eq!(last(&store, org).await.actor, "Ada");
        assert_eq!(events(&store).await, 1);
    }

    #[tokio::test]
    async fn regenerating_keeps_name_type_creator_and_service_account() {
        let (store, _db, ada, org) = acme().await;
        let bob = store
            .add_user(org, &by(ada), person("Bob", "bob@acme.test"), Role::Admin, 1)
            .await
            .unwrap();
        let old = TokenSecret::generate(TokenKind::Forwarder).unwrap();
        let made = store.create_token(org, &by(ada), &name("dc-east"), &old, 2).await.unwrap();
        let account: i64 = store
            .scalar_for_test("SELECT principal_id FROM tokens WHERE id = $1", &[made.id.0])
            .await;
        // Bob regenerates Ada's token: the creator stays Ada, the account stays the same.
        let (new, secret) = store.regenerate_token(org, made.id, &by(bob.id), 3).await.unwrap();
        assert_eq!(
            (new.name.as_str(), new.kind, new.created_by.as_str()),
            ("dc-east", TokenKind::Forwarder, "Ada")
        );
        assert_eq!(secret.kind(), TokenKind::Forwarder);
        assert_ne!(secret.digest(), old.digest());
        assert_eq!(
            store
                .scalar_for_test("SELECT principal_id FROM tokens WHERE id = $1", &[new.id.0])
                .await,
            account
        );
        let old_row = store.token(org, made.id).await.unwrap().unwrap();
        assert_eq!(old_row.revoked_reason, Some(crate::model::RevokeReason::Regenerated));
        assert_eq!(old_row.revoked_by.as_deref(), Some("Bob"));
        assert!(store.token_by_digest(&old.digest()).await.unwrap().unwrap().revoked);
        assert!(!store.token_by_digest(&secret.digest()).await.unwrap().unwrap().revoked);
        // Another organization's id is not found.
        let hank = store
            .create_user("Globex", person("Hank", "hank@globex.test"), Role::Admin, 0)
            .await
            .unwrap();
        let globex = org_of(&store, hank).await;
        assert!(matches!(
            store.regenerate_token(globex, new.id, &by(hank), 4).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn the_log_filters_by_action_and_name_pages_newest_first_and_stays_in_its_organization() {
        let (store, _db, ada, org) = acme().await;
        let hank = store
            .create_user("Globex", person("Hank", "hank@globex.test"), Role::Admin, 0)
            .await
            .unwrap();
        let globex = org_of(&store, hank).await;
        for i in 0..30 {
            let secret = TokenSecret::generate(TokenKind::Api).unwrap();
            let n = if i == 7 { "Ärger-Schlüssel".to_string() } else { format!("t{i}") };
            store
                .create_token(org, &Actor::user(ada, "Ada", None), &name(&n), &secret, 10 + i)
                .await
                .unwrap();
        }
        let list = |q: &str, action: Option<AuditAction>, page: u32| {
            let store = store.clone();
            let query = AuditQuery { q: q.into(), action, page };
            async move { store.list_events(org, &query, 0).await.unwrap() }
        };
        let all = list("", None, 1).await;
        assert_eq!(
            (all.total, all.rows.len(), all.rows[0].target.as_deref()),
            (31, 25, Some("t29"))
        );
        let second = list("", None, 2).await;
        assert_eq!((second.page, second.rows.len()), (2, 6));
        assert_eq!(second.rows.last().unwrap().action, AuditAction::OrganizationCreated);
        assert_eq!(list("", Some(AuditAction::TokenGenerated), 1).await.total, 30);
        assert_eq!(list("", Some(AuditAction::OrganizationCreated), 1).await.total, 1);
        assert_eq!(list("ärger-SCHLÜSSEL", None, 1).await.total, 1, "Unicode, ignoring case");
        assert_eq!(list("ada", Some(AuditAction::TokenGenerated), 1).await.total, 30, "the actor");
        assert_eq!(list("%", None, 1).await.total, 0, "wildcards match themselves");
        // Globex sees its own two events only (organization created, user added).
        let theirs = store.list_events(globex, &AuditQuery::default(), 0).await.unwrap();
        assert_eq!(theirs.total, 2);
        assert!(theirs.rows.iter().all(|e| e.actor == "Command line"));
        // An export reads every matching event once, in batches, newest first.
        let query = AuditQuery { action: Some(AuditAction::TokenGenerated), ..Default::default() };
        let (mut seen, mut before) = (Vec::new(), None);
        loop {
            let batch = store.events_before(org, &query, before, 7).await.unwrap();
            if batch.is_empty() {
                break;
            }
            before = batch.last().map(|e| e.id);
            seen.extend(batch.into_iter().map(|e| e.id));
        }
        assert_eq!(seen.len(), 30);
        assert!(seen.windows(2).all(|w| w[0] > w[1]));
    }

    fn rss_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or(0)
    }

    /// The audit log at scale, on the test backend (`TOKENWELL_TEST_PG_URL` for
    /// PostgreSQL): first-page latency with AUDIT_EVENTS (default 1,000,000) events in one
    /// organization, unfiltered and filtered; an export of 100,000 events and the memory it
    /// takes; what writing the event adds to a change. Results in docs/benchmarks.md.
    /// `cargo test -p app --features ssr --release audit_log_at_scale -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark; see docs/benchmarks.md"]
    async fn audit_log_at_scale() {
        use std::time::Instant;
        let n: u32 =
            std::env::var("AUDIT_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
        let (store, _db, ada, org) = acme().await;
        let now = crate::server::now();
        let started = Instant::now();
        store.seed_events(org, n, now).await.unwrap();
        println!(
            "backend {}, {n} events seeded in {:.1?}",
            store.backend_name(),
            started.elapsed()
        );
        let started = Instant::now();
        while store.index_audit_search(100_000).await.unwrap() > 0 {}
        if store.backend_name() == "postgres" {
            store.execute_for_test("VACUUM ANALYZE audit_events", &[]).await;
        }
        println!(
            "search index built (SQLite) or table analysed (PostgreSQL) in {:.1?}",
            started.elapsed()
        );

        let cases = [
            ("unfiltered", AuditQuery::default()),
            (
                "action (1 in 14)",
                AuditQuery { action: Some(AuditAction::TokenRevoked), ..Default::default() },
            ),
            ("text, common (1 in 4)", AuditQuery { q: "grace".into(), ..Default::default() }),
            (
                "text, rare (1 event)",
                AuditQuery { q: format!("token-{}", n / 2), ..Default::default() },
            ),
            (
                "text, 11 events",
                AuditQuery { q: format!("token-{}", n / 10 - 1), ..Default::default() },
            ),
            ("text, 1 in 90, all old", AuditQuery { q: "token-12".into(), ..Default::default() }),
            (
                "action + text",
                AuditQuery { q: "grace".into(), action: Some(AuditAction::SignedIn), page: 1 },
            ),
            ("unfiltered, page 400", AuditQuery { page: 400, ..Default::default() }),
        ];
        for (what, query) in cases {
            for _ in 0..3 {
                store.list_events(org, &query, now).await.unwrap();
            }
            let mut times: Vec<f64> = (0..40).map(|_| 0.0).collect();
            let mut total = 0;
            for t in times.iter_mut() {
                let started = Instant::now();
                total = store.list_events(org, &query, now).await.unwrap().total;
                *t = started.elapsed().as_secs_f64() * 1000.0;
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "first page, {what}: {total} match; p50 {:.1} ms, p95 {:.1} ms",
                times[times.len() / 2],
                times[times.len() * 95 / 100]
            );
        }

        // An export of 100,000 events in batches, as the CSV endpoint reads them.
        let before = rss_kib();
        let started = Instant::now();
        let (mut exported, mut bytes, mut cursor, mut peak) = (0usize, 0usize, None, before);
        while exported < 100_000 {
            let batch = store
                .events_before(
                    org,
                    &AuditQuery::default(),
                    cursor,
                    crate::server::audit::EXPORT_BATCH,
                )
                .await
                .unwrap();
            if batch.is_empty() {
                break;
            }
            cursor = batch.last().map(|e| e.id);
            exported += batch.len();
            bytes += batch.iter().map(|e| crate::server::audit::csv_line(e).len()).sum::<usize>();
            peak = peak.max(rss_kib());
        }
        println!(
            "export: {exported} events, {:.1} MB of CSV in {:.2?}; RSS {} KiB before, peak {} KiB",
            bytes as f64 / 1e6,
            started.elapsed(),
            before,
            peak
        );

        // What the event adds to a change: a change (create + revoke, each its own durable
        // transaction with its event) against what the event adds to the statement after the
        // change that records it (`carrying_event!`): a read-back of the token with the event
        // and without, in turn, in one transaction.
        const CHANGES: usize = 200;
        let started = Instant::now();
        for i in 0..CHANGES {
            let secret = TokenSecret::generate(TokenKind::Api).unwrap();
            let t = store
                .create_token(org, &by(ada), &name(&format!("w{i}")), &secret, now)
                .await
                .unwrap();
            store.revoke_token(org, t.id, &by(ada), now).await.unwrap();
        }
        let per_change = started.elapsed().as_secs_f64() * 1000.0 / (2 * CHANGES) as f64;
        const EVENTS: u32 = 2_000;
        let actor = by(ada);
        let secret = TokenSecret::generate(TokenKind::Api).unwrap();
        let token =
            store.create_token(org, &actor, &name("read-back"), &secret, now).await.unwrap();
        const READ_BACK: &str = "SELECT name FROM tokens WHERE id = $1 AND organization_id = $2";
        let (mut with, mut without) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        let reads = async {
            transaction!(store, tx => {
                for i in 0..EVENTS {
                    let started = Instant::now();
                    sqlx::query_scalar::<_, String>(READ_BACK)
                        .bind(token.id)
                        .bind(org)
                        .fetch_one(&mut *tx)
                        .await?;
                    without += started.elapsed();
                    let target = format!("w{i}");
                    let event =
                        Event::new(AuditAction::TokenRevoked).on(TargetKind::Token, i as i64, &target);
                    let started = Instant::now();
                    carrying_event!(
                        &mut *tx,
                        [org, &actor, event, now],
                        READ_BACK,
                        2,
                        |sql| sqlx::query_scalar::<_, String>(sql).bind(token.id).bind(org),
                        fetch_one
                    )?;
                    with += started.elapsed();
                }
            });
            Ok::<(), StoreError>(())
        };
        reads.await.unwrap();
        print_share("a change", per_change, "the read-back", with, without, EVENTS);

        // The same for a file upload, whose event rides in the file's insert
        // (`inserting_with_event!`): the store's upload, each its own transaction, against
        // the insert with its event and without, in turn, in one transaction.
        let as_token = Actor::token(token.id, "read-back", ada, "Ada", None);
        let upload = |i: u32| NewFile {
            name: "report.csv",
            size: i64::from(i % 7 + 1),
            sha256: "ab",
            token: token.id,
            principal: ada,
        };
        let started = Instant::now();
        for i in 0..CHANGES as u32 {
            store.insert_file(org, &as_token, upload(i), now, u64::MAX / 2).await.unwrap();
        }
        let per_upload = started.elapsed().as_secs_f64() * 1000.0 / CHANGES as f64;
        const INSERT: &str = "INSERT INTO files (organization_id, name, size, sha256, token_id, \
             principal_id, created_at) SELECT $1, $2, $3, $4, $5, $6, $7 RETURNING id";
        let (mut with, mut without) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        let inserts = async {
            transaction!(store, tx => {
                for i in 0..EVENTS {
                    let file = upload(i);
                    // INSERT's seven values, on either query.
                    macro_rules! file_values {
                        ($query:expr) => {
                            $query
                                .bind(org)
                                .bind(file.name)
                                .bind(file.size)
                                .bind(file.sha256)
                                .bind(token.id)
                                .bind(ada)
                                .bind(now)
                        };
                    }
                    let started = Instant::now();
                    file_values!(sqlx::query_scalar::<_, i64>(INSERT)).fetch_one(&mut *tx).await?;
                    without += started.elapsed();
                    let event = Event::new(AuditAction::FileUploaded).on(TargetKind::File, 0, file.name);
                    let started = Instant::now();
                    inserting_with_event!(
                        &mut *tx,
                        [org, &as_token, event, now],
                        INSERT,
                        7,
                        |query| file_values!(query)
                    )?;
                    with += started.elapsed();
                }
            });
            Ok::<(), StoreError>(())
        };
        inserts.await.unwrap();
        print_share("an upload's record", per_upload, "the insert", with, without, EVENTS);
    }

    /// Prints what writing the event adds to `change` (taking `change_ms` each, its event
    /// included): the statement that carries it took `with` in all, the same statement
    /// without an event `without`, `n` times each.
    fn print_share(
        change: &str,
        change_ms: f64,
        carrier: &str,
        with: std::time::Duration,
        without: std::time::Duration,
        n: u32,
    ) {
        let per_event = (with.as_secs_f64() - without.as_secs_f64()) * 1000.0 / n as f64;
        println!(
            "{change} takes {change_ms:.3} ms with its event; the event adds {per_event:.3} ms \
             ({:.1} %) to {carrier} that carries it ({:.3} ms without)",
            per_event / (change_ms - per_event) * 100.0,
            without.as_secs_f64() * 1000.0 / n as f64
        );
    }
}
