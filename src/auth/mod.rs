//! Who may do what: endpoint tokens and the policies they carry.
//!
//! - [`policy`]: the six service policies, the Vault ACL paths they grant, and
//!   path matching.
//! - [`token`]: one token per endpoint, persisted sealed, checked in constant time.

pub mod policy;
pub mod token;

pub use policy::{Acl, Capability};
pub use token::{TokenEntry, TokenStore};
