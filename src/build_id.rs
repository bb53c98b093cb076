//! The BuildUUID: the identity of one build run, shared by every redo
//! process of the run (`REDO_BUILD_UUID`) and written into every `.dep` it
//! commits. A random (v4) UUID, in goredo's hyphenated text form. A leaf
//! module: env, state and the engine all use it, it uses none of them.

/// A new random BuildUUID.
pub fn new() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

/// Hyphenated lower-case text, as goredo writes it.
pub fn format(b: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*b).hyphenated().to_string()
}

/// The hyphenated text form back (None if it is not one).
pub fn parse(s: &str) -> Option<[u8; 16]> {
    if s.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(s).ok().map(|u| *u.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let u = super::new();
        assert_eq!(super::parse(&super::format(&u)), Some(u));
        assert_eq!(super::parse("nope"), None);
        assert_eq!(
            super::format(&super::parse("80143F04-bfff-4673-950c-081d712f573d").unwrap()),
            "80143f04-bfff-4673-950c-081d712f573d"
        );
    }
}
