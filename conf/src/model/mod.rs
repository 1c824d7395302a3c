//! The typed configuration model shared by both front ends.
//!
//! Every struct holds *effective* values: a model built from a minimal
//! keepalived.conf already carries keepalived's defaults (priority 100,
//! advert_int 1 s, VRRP version 2, garp_master_delay 5 s, delay_loop 60 s,
//! connect_timeout 5 s, ...), and values inherited from `global_defs`, the
//! virtual server or the real server have been copied down. [`resolve`] holds
//! those inheritance rules; both front ends call it.
//!
//! # Serde shape
//!
//! Field and table names follow keepalived's keywords (`vrrp_instance`,
//! `virtual_ipaddress`, `delay_loop`, ...), so a TOML file reads like the
//! keepalived.conf it replaces. Durations are written as seconds, a float or an
//! integer (`advert_int = 0.01`, `delay_loop = 60`); on input a string with a
//! unit is accepted too (`"250ms"`, `"1.5s"`, `"2m"`). Durations have
//! microsecond resolution, keepalived's `TIMER_HZ`. Addresses are strings
//! (`"192.0.2.1"`, `"2001:db8::1/64"`).
//!
//! Each named item keeps the position it was defined at in a
//! `#[serde(skip)]` [`Origin`] field that `PartialEq` ignores, so cross-item
//! checks in [`crate::validate`] can name `file:line:col`.

pub mod duration;
mod global;
mod lvs;
mod net;
pub mod resolve;
mod vrrp;

pub use global::*;
pub use lvs::*;
pub use net::*;
pub use vrrp::*;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::diag::Location;

/// Where an item (and some of its keywords) was written. Ignored by
/// `PartialEq` and by serde, so models from different front ends compare
/// equal when their values are equal.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The item itself: the block keyword, or the line of a list entry.
    pub at: Option<Location>,
    /// Every keyword written inside the item's block, with its position.
    /// Also tells [`resolve`] which values were written and which inherit.
    pub keys: Vec<(Cow<'static, str>, Location)>,
}

impl Origin {
    pub fn at(loc: Location) -> Self {
        Origin {
            at: Some(loc),
            keys: Vec::new(),
        }
    }

    /// Where keyword `key` was written, else where the item was.
    pub fn key(&self, key: &str) -> Option<&Location> {
        self.keys
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, l)| l)
            .or(self.at.as_ref())
    }

    pub fn set_key(&mut self, key: &str, loc: Location) {
        self.keys.push((Cow::Owned(key.to_owned()), loc));
    }

    /// True if keyword `key` was written in the item's block.
    pub fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == key)
    }
}

impl PartialEq for Origin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A whole configuration: what one keepalived.conf (with its includes) or
/// one TOML file describes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub global_defs: GlobalDefs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_ipaddress: Vec<IpAddress>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_routes: Vec<Route>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_rules: Vec<Rule>,
    #[serde(rename = "bfd_instance", skip_serializing_if = "Vec::is_empty")]
    pub bfd_instances: Vec<BfdInstance>,
    #[serde(rename = "vrrp_script", skip_serializing_if = "Vec::is_empty")]
    pub vrrp_scripts: Vec<VrrpScript>,
    #[serde(rename = "track_file", skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<TrackFile>,
    #[serde(rename = "vrrp_track_process", skip_serializing_if = "Vec::is_empty")]
    pub track_processes: Vec<TrackProcess>,
    #[serde(rename = "vrrp_sync_group", skip_serializing_if = "Vec::is_empty")]
    pub sync_groups: Vec<SyncGroup>,
    #[serde(rename = "vrrp_instance", skip_serializing_if = "Vec::is_empty")]
    pub vrrp_instances: Vec<VrrpInstance>,
    #[serde(rename = "virtual_server_group", skip_serializing_if = "Vec::is_empty")]
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    #[serde(rename = "virtual_server", skip_serializing_if = "Vec::is_empty")]
    pub virtual_servers: Vec<VirtualServer>,
    /// `SSL { password; ca; certificate; key }` for SSL_GET.
    #[serde(rename = "SSL", skip_serializing_if = "Option::is_none")]
    pub ssl: Option<Ssl>,
}

impl Config {
    pub fn vrrp_instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.vrrp_instances.iter().find(|i| i.name == name)
    }

    pub fn vrrp_script(&self, name: &str) -> Option<&VrrpScript> {
        self.vrrp_scripts.iter().find(|s| s.name == name)
    }

    pub fn sync_group(&self, name: &str) -> Option<&SyncGroup> {
        self.sync_groups.iter().find(|s| s.name == name)
    }

    pub fn virtual_server_group(&self, name: &str) -> Option<&VirtualServerGroup> {
        self.virtual_server_groups.iter().find(|s| s.name == name)
    }
}

/// A script or program to run, with the user and group to run it as
/// (`notify_master "/bin/x arg" user group`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "ScriptRepr", into = "ScriptRepr")]
pub struct Script {
    /// The command line as written (keepalived splits it on spaces, honouring
    /// quotes, when it runs it).
    pub command: String,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// In TOML a script is either a plain string or a table with a user.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ScriptRepr {
    Plain(String),
    Full {
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
}

impl From<ScriptRepr> for Script {
    fn from(r: ScriptRepr) -> Self {
        match r {
            ScriptRepr::Plain(command) => Script::new(command),
            ScriptRepr::Full {
                command,
                user,
                group,
            } => Script {
                command,
                user,
                group,
            },
        }
    }
}

impl From<Script> for ScriptRepr {
    fn from(s: Script) -> Self {
        if s.user.is_none() && s.group.is_none() {
            ScriptRepr::Plain(s.command)
        } else {
            ScriptRepr::Full {
                command: s.command,
                user: s.user,
                group: s.group,
            }
        }
    }
}

impl Script {
    pub fn new(command: impl Into<String>) -> Self {
        Script {
            command: command.into(),
            user: None,
            group: None,
        }
    }
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// Serde for items that TOML may write as a plain string when only their
/// main field is set (`virtual_ipaddress = ["192.0.2.1/24"]`,
/// `track_script = ["chk_http"]`) or as a table with options. The struct
/// derives its serde with `#[serde(remote = "Self")]`; this macro adds the
/// trait impls that try the short form first.
macro_rules! string_or_table {
    ($ty:ty, $expecting:literal, ($parse:expr, $short:expr)) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let short: fn(&$ty) -> Option<String> = $short;
                match short(self) {
                    Some(text) => s.serialize_str(&text),
                    None => <$ty>::serialize(self, s),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Vis;
                impl<'de> serde::de::Visitor<'de> for Vis {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        let parse: fn(&str) -> Result<$ty, String> = $parse;
                        parse(v).map_err(E::custom)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        m: A,
                    ) -> Result<$ty, A::Error> {
                        <$ty>::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    }
                }
                d.deserialize_any(Vis)
            }
        }
    };
}
pub(crate) use string_or_table;
