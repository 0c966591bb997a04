//! The built-in models. Each follows the semantics documented on
//! [`Func`](crate::history::Func).
//!
//! | model | functions | state | partitions |
//! | --- | --- | --- | --- |
//! | [`Register`] | read, write | `Option<i64>` (`None`: never written) | by key |
//! | [`CasRegister`] | read, write, cas | `Option<i64>` | by key |
//! | [`Kv`] | get, put, append | the key's string ([`KvText`], `""` at first) | by key |
//! | [`Bank`] | deposit, withdraw, read | the account's balance (0 at first) | by account |
//! | [`MultiRegister`] | txn of reads and writes | every written key's value | one partition |
//! | [`Mutex`] | acquire, release | whether the lock is held | by key |
//!
//! Registers partition by key too: a history over several keys is checked as that many
//! independent registers, and operations without a key form one register.

mod bank;
mod kv;
mod multi_register;
mod mutex;
mod register;

pub use bank::{Bank, BankOp};
pub use kv::{Kv, KvOp, KvText};
pub use multi_register::{Micro, MultiRegister, MultiRegisterOp};
pub use mutex::{Mutex, MutexOp};
pub use register::{CasRegister, Register, RegisterOp};

use crate::history::Operation;

/// The operation's key, or why a keyed model refuses it.
fn require_key<'a>(model: &str, op: &'a Operation) -> Result<&'a str, String> {
    op.key
        .as_deref()
        .ok_or_else(|| format!("a {model} operation needs a key"))
}
