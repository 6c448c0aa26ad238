//! The two helpers every section's validator shares, in a leaf module so the
//! validators (`sections`, `approvals`, `scheduling`) import them and never
//! each other: the problems found so far, and member lists turned into
//! [`Members`].

use super::{Members, Problem};
use crate::domain::Principal;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use toml::Spanned;

/// Problems found so far, with the text they were found in, so a value's
/// position becomes a line number.
pub(super) struct Problems<'t> {
    text: &'t str,
    found: Vec<Problem>,
}

impl<'t> Problems<'t> {
    pub fn new(text: &'t str) -> Self {
        Self {
            text,
            found: Vec::new(),
        }
    }

    /// The 1-based line a span starts on; none for a default that has no span.
    pub fn line_of(&self, span: Range<usize>) -> Option<usize> {
        (span != (0..0) || self.text.is_empty()).then(|| {
            self.text[..span.start.min(self.text.len())]
                .matches('\n')
                .count()
                + 1
        })
    }

    pub fn add(&mut self, span: Range<usize>, message: String) {
        let line = self.line_of(span);
        self.found.push(Problem { line, message });
    }

    /// Every problem in file order, so the list reads top to bottom.
    pub fn finish(mut self) -> Result<(), Vec<Problem>> {
        if self.found.is_empty() {
            return Ok(());
        }
        self.found.sort_by_key(|p| p.line.unwrap_or(0));
        Err(self.found)
    }
}

/// Turns member lists (`U…`, `@group`, `workflow:B…`, `*`) into [`Members`].
pub(super) struct MemberLists<'g> {
    pub groups: &'g BTreeMap<String, BTreeSet<String>>,
}

impl MemberLists<'_> {
    pub fn resolve(&self, list: &[Spanned<String>], field: &str, p: &mut Problems) -> Members {
        let mut m = Members::default();
        for entry in list {
            let s = entry.get_ref();
            m.written.push(s.clone());
            if s == "*" {
                m.anyone = true;
            } else if let Some(g) = s.strip_prefix('@') {
                match self.groups.get(g) {
                    Some(members) => m
                        .principals
                        .extend(members.iter().filter_map(|p| Principal::parse(p))),
                    None => p.add(
                        entry.span(),
                        format!(
                            "{field} names group \"@{g}\", which is not defined under [groups]"
                        ),
                    ),
                }
            } else {
                match Principal::parse(s) {
                    Some(principal) => {
                        m.principals.insert(principal);
                    }
                    None => p.add(
                        entry.span(),
                        format!(
                            "{field}: \"{s}\" is not a Slack user id (U…), @group, workflow:B… or *"
                        ),
                    ),
                }
            }
        }
        m
    }
}
