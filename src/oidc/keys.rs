//! Google's signing keys: the cache, how long its answer may be kept, and why
//! a fetch failed.

use super::*;

#[derive(Default)]
pub(super) struct KeyCache {
    pub(super) keys: HashMap<String, DecodingKey>,
    /// Unix seconds until which `keys` are fresh.
    pub(super) fresh_until: i64,
    /// Unix seconds of the last fetch, successful or not: the rate limit.
    pub(super) attempted_at: Option<i64>,
    /// Why the last fetch failed; cleared by a successful one.
    pub(super) last_error: Option<String>,
    /// Unix seconds of the last successful fetch.
    pub(super) fetched_at: Option<i64>,
}

impl KeyCache {
    /// Requests race, so one may bring a `now` a little before the last
    /// fetch's; a clock that jumped back further than that must not freeze the
    /// cache (and its rate limit) until it catches up.
    pub(super) fn jumped_back(now: i64, then: i64) -> bool {
        then - now >= MIN_REFETCH_SECS
    }

    pub(super) fn fresh(&self, now: i64) -> bool {
        now < self.fresh_until
            && self
                .fetched_at
                .is_some_and(|at| !Self::jumped_back(now, at))
    }

    pub(super) fn may_fetch(&self, now: i64) -> bool {
        self.attempted_at
            .is_none_or(|at| now - at >= MIN_REFETCH_SECS || Self::jumped_back(now, at))
    }
}

/// Seconds to keep the keys: `max-age` less `Age` when Google says, else an hour.
pub(super) fn keys_lifetime(headers: &reqwest::header::HeaderMap) -> i64 {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(cache_control) = header(reqwest::header::CACHE_CONTROL) else {
        return DEFAULT_KEYS_LIFETIME;
    };
    let mut max_age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            // Still fetched at most every MIN_REFETCH_SECS.
            return 0;
        }
        if name.eq_ignore_ascii_case("max-age") {
            max_age = value.trim().trim_matches('"').parse::<i64>().ok();
        }
    }
    let Some(max_age) = max_age else {
        return DEFAULT_KEYS_LIFETIME;
    };
    let age = header(reqwest::header::AGE)
        .and_then(|a| a.trim().parse::<i64>().ok())
        .unwrap_or(0);
    max_age
        .saturating_sub(age.max(0))
        .clamp(0, MAX_KEYS_LIFETIME)
}

/// reqwest's own message says only "error sending request"; the causes say why.
pub(super) fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}
