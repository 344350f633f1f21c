//! A tab's list: its view in the URL, the page of rows the server sends for it, and the
//! live region that announces the count when it changes.

use std::future::Future;

use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

use super::{
    pager::announcement,
    url_query::{use_url_query, UrlQuery, UrlState},
    ErrorBanner,
};
use crate::{
    error::AppError,
    model::{Page, Viewer},
};

/// `None` when the viewer is not shown the list (it is then not fetched at all).
pub type ListResource<T> = Resource<Option<Result<Page<T>, AppError>>>;

pub struct ListData<Q: UrlQuery, T: Send + Sync + 'static> {
    pub url: UrlState<Q>,
    pub list: ListResource<T>,
}

impl<Q: UrlQuery, T: Send + Sync + 'static> Clone for ListData<Q, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<Q: UrlQuery, T: Send + Sync + 'static> Copy for ListData<Q, T> {}

impl<Q, T> ListData<Q, T>
where
    Q: UrlQuery,
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Made by the tab's route view, outside any Suspense: on the server a Suspense runs
    /// its children more than once, and a resource made in there is made, and fetched,
    /// once per run.
    ///
    /// `shown`: whether the viewer sees the list. `refresh`: read by the list, so that it
    /// is fetched again when it changes (the tab's actions' `version()`s).
    pub fn new<Fut>(
        viewer: Resource<Result<Viewer, AppError>>,
        shown: fn(&Result<Viewer, AppError>) -> bool,
        refresh: impl Fn() -> usize + Send + Sync + 'static,
        fetch: fn(Q) -> Fut,
    ) -> Self
    where
        Fut: Future<Output = Result<Page<T>, AppError>> + Send + 'static,
    {
        let url = use_url_query::<Q>();
        let list = Resource::new(
            move || (url.query.get(), refresh()),
            move |(query, _)| async move {
                if shown(&viewer.await) {
                    Some(fetch(query).await)
                } else {
                    None
                }
            },
        );
        ListData { url, list }
    }
}

/// The list's rows (`rows`), keeping the last ones on screen while the next load.
#[component]
pub fn ListView<T, F, V>(list: ListResource<T>, loading: &'static str, rows: F) -> impl IntoView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    F: Fn(Page<T>) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    // A live region must outlive what it announces: the rows (and the pager's count) are
    // rendered anew for each load, so the count is announced from here. Not on the first
    // load, which the page itself presents.
    let spoken = RwSignal::new(String::new());
    Effect::new(move |loaded_before: Option<bool>| {
        let count = list.with(|l| match l {
            Some(Some(Ok(page))) => Some(announcement(page)),
            _ => None,
        });
        match count {
            Some(count) if loaded_before == Some(true) => spoken.set(count),
            _ => {}
        }
        loaded_before == Some(true) || list.with(|l| l.is_some())
    });
    view! {
        <p class="sr-only" role="status">
            {move || spoken.get()}
        </p>
        <Transition fallback=move || view! { <p class="loading">{loading}</p> }>
            {
                let rows = rows.clone();
                move || {
                    let rows = rows.clone();
                    Suspend::new(async move {
                        match list.await {
                            None => ().into_any(),
                            Some(Ok(page)) => rows(page).into_any(),
                            Some(Err(error)) => view! { <ErrorBanner error /> }.into_any(),
                        }
                    })
                }
            }
        </Transition>
    }
}
