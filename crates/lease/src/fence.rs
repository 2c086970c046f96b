//! The reader's side of fencing: a result is admitted only if its lease token is at least
//! the newest seen for its camera, so a deposed owner's late results are dropped.

use std::collections::HashMap;

/// Newest fencing token seen per camera.
#[derive(Debug, Default, Clone)]
pub struct Fence {
    newest: HashMap<String, u64>,
    dropped: u64,
}

impl Fence {
    /// A fence that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to keep a result of `camera` published under `token`; remembers the token.
    pub fn admit(&mut self, camera: &str, token: u64) -> bool {
        match self.newest.get_mut(camera) {
            Some(newest) if token < *newest => {
                self.dropped += 1;
                false
            }
            Some(newest) => {
                *newest = token;
                true
            }
            None => {
                self.newest.insert(camera.to_owned(), token);
                true
            }
        }
    }

    /// Results dropped so far for carrying an older token.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
