//! Rules for user and room names.

/// Longest user or room name, in bytes.
pub const MAX_NAME: usize = 64;

/// Checks a user or room name: 1 to 64 bytes, no whitespace at the ends, no control
/// characters. Returns why not.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a name cannot be empty");
    }
    if name.len() > MAX_NAME {
        return Err("a name is at most 64 bytes");
    }
    if name.trim() != name {
        return Err("a name cannot start or end with whitespace");
    }
    if name.chars().any(char::is_control) {
        return Err("a name cannot contain control characters");
    }
    Ok(())
}
