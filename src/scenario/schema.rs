//! What the scenario loader needs from a system, without naming any system.
//!
//! A scenario file names its system (`system = "es_cluster"`) and may carry the system's
//! own table (`[es_cluster]`). The loader validates everything generic itself and asks the
//! system, through [`SystemSchema`], for the rest: its catalogue (bugs, checks, workloads)
//! to check names against, and the parse of its own section. The system returns that
//! section as an opaque [`Section`], which the loader keeps and hands back to the system
//! when it plans a seed. The systems live above this module (`crate::systems`); the loader
//! reaches them only through a [`Catalog`] passed in by the caller.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer as _;

use super::load::{SystemLoad, Worst};
use crate::catalog::Entry;
use crate::knob::KnobDoc;

/// A system as the scenario loader sees it: its name, catalogues and own section. Every
/// system has it through `systems::Plugin`; the example on [`Catalog`] reads them.
pub trait SystemSchema: Send + Sync {
    /// Its name (`system = "..."`, and the name of its own section).
    fn name(&self) -> &'static str;
    /// What it is, in a sentence.
    fn about(&self) -> &'static str;
    /// Its planted bugs.
    fn bugs(&self) -> Vec<Entry>;
    /// Its checks.
    fn checks(&self) -> Vec<Entry>;
    /// The workloads it runs; the first is the default.
    fn workloads(&self) -> Vec<Entry>;
    /// The reference of the knobs of its own section.
    fn knob_docs(&self) -> Vec<KnobDoc>;
    /// Parse and validate its own section out of the whole scenario text (absent section:
    /// all defaults). Errors keep their place in the text: serde errors carry a span,
    /// semantic problems a dotted key path.
    fn load_section(&self, text: &str) -> Result<Section, SectionError>;
    /// What its seeds cost beyond the generic estimate, at the worst corner of its
    /// section (see [`super::load`]).
    fn load(&self, section: &Section, swarm: bool, worst: &Worst) -> SystemLoad;
}

impl fmt::Debug for dyn SystemSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "System({})", self.name())
    }
}

/// The systems a scenario may name. faultline's is `systems::REGISTRY`, every built-in
/// system and those a program installed:
///
/// ```
/// use faultline::scenario::Catalog;
///
/// let registry = &faultline::systems::REGISTRY;
/// let names: Vec<&str> = registry.systems().iter().map(|s| s.name()).collect();
/// assert_eq!(names[..2], ["kv_register", "es_cluster"]);
/// let saga = registry.find("saga").unwrap();
/// assert!(saga.checks().iter().any(|c| c.name == "saga_atomicity"));
/// assert!(saga.knob_docs().iter().all(|k| k.path.starts_with("saga.")));
/// ```
pub trait Catalog: Sync {
    /// Every system, in catalogue order.
    fn systems(&self) -> Vec<&'static dyn SystemSchema>;
    /// The system called `name`.
    fn find(&self, name: &str) -> Option<&'static dyn SystemSchema> {
        self.systems().into_iter().find(|s| s.name() == name)
    }
}

/// A system's parsed section, opaque to the loader: only the system that made it reads it.
#[derive(Clone)]
pub struct Section(Arc<dyn Any + Send + Sync>);

impl Section {
    /// Wrap a system's parsed section.
    pub fn new<T: Any + Send + Sync>(section: T) -> Self {
        Section(Arc::new(section))
    }

    /// The section, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Section(..)")
    }
}

/// Why a system's section cannot be used.
#[derive(Debug)]
pub enum SectionError {
    /// It does not parse (unknown key, wrong type); the error carries its span.
    Parse(toml::de::Error),
    /// It parses, but values are wrong: (dotted key path, message) per problem.
    Problems(Vec<(String, String)>),
}

/// Deserialize the top-level table `key` of a TOML document, ignoring every other key.
///
/// The whole text goes through the TOML deserializer, so an error inside the table keeps
/// its position in the file (a `[key]` table cut out and parsed alone would lose it).
pub fn section_of<T: DeserializeOwned>(
    text: &str,
    key: &str,
) -> Result<Option<T>, toml::de::Error> {
    toml::Deserializer::new(text).deserialize_map(Pick {
        key,
        _t: std::marker::PhantomData,
    })
}

struct Pick<'k, T> {
    key: &'k str,
    _t: std::marker::PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Pick<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        // A TOML document has finitely many top-level keys; the parser already bounds it.
        while let Some(name) = map.next_key::<String>()? {
            if name == self.key {
                found = Some(map.next_value_seed(Typed::<T>(std::marker::PhantomData))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct Typed<T>(std::marker::PhantomData<T>);

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Typed<T> {
    type Value = T;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Mine {
        a: u64,
    }

    #[test]
    fn picks_one_table_and_keeps_spans() {
        let text = "system = \"x\"\n[other]\nz = 1\n[mine]\na = 3\n";
        assert_eq!(
            section_of::<Mine>(text, "mine").unwrap(),
            Some(Mine { a: 3 })
        );
        assert_eq!(section_of::<Mine>(text, "absent").unwrap(), None);
        let bad = "system = \"x\"\n[mine]\na = 3\nb = 4\n";
        let err = section_of::<Mine>(bad, "mine").unwrap_err();
        let span = err.span().expect("a span");
        assert_eq!(&bad[span.start..span.start + 1], "b", "{err}");
    }
}
