//! Time is injected: backoff, grace periods and probes read a `Clock`, so a
//! five-minute backoff schedule tests in microseconds.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// `t` without its fraction: API timestamps (metav1.Time) have whole seconds.
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Mutex::new(start))
    }
    pub fn advance(&self, d: SignedDuration) {
        let mut t = self.0.lock().expect("lock");
        *t += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("lock")
    }
}
