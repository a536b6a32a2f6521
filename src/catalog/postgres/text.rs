//! PostgreSQL's text cannot hold a NUL character; what scripts and installers print may. The
//! columns that keep such output store it with a reversible escape: U+FFFE (a noncharacter,
//! never meant to appear in text) is the escape, `U+FFFE 0` a NUL and `U+FFFE U+FFFE` itself,
//! so every string reads back exactly as it was written.

use std::borrow::Cow;

const ESCAPE: char = '\u{FFFE}';

/// `text` as stored.
pub(super) fn store(text: &str) -> Cow<'_, str> {
    if !text.contains(['\0', ESCAPE]) {
        return Cow::Borrowed(text);
    }
    let mut stored = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\0' => stored.extend([ESCAPE, '0']),
            ESCAPE => stored.extend([ESCAPE, ESCAPE]),
            c => stored.push(c),
        }
    }
    Cow::Owned(stored)
}

pub(super) fn store_opt(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(store)
}

/// Stored text as it was written.
pub(super) fn load(stored: String) -> String {
    if !stored.contains(ESCAPE) {
        return stored;
    }
    let mut text = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        match (c, c == ESCAPE) {
            (_, true) => match chars.next() {
                Some('0') => text.push('\0'),
                Some(other) => text.push(other),
                None => text.push(ESCAPE),
            },
            (c, false) => text.push(c),
        }
    }
    text
}

pub(super) fn load_opt(stored: Option<String>) -> Option<String> {
    stored.map(load)
}

#[cfg(test)]
mod tests {
    use super::{load, store};

    #[test]
    fn every_string_reads_back_as_written_and_none_holds_a_nul() {
        for text in [
            "",
            "plain",
            "\0",
            "a\0b\0",
            "\u{FFFE}",
            "\u{FFFE}0",
            "\u{FFFE}\u{FFFE}\0\u{FFFE}",
            "x\u{FFFE}",
            "é\0漢字\u{FFFE}0",
        ] {
            let stored = store(text);
            assert!(!stored.contains('\0'), "{text:?} stored as {stored:?}");
            assert_eq!(load(stored.into_owned()), text);
        }
    }
}
