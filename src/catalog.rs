//! Catalogue enums: a system's planted bugs, checks and workloads as typed values.
//!
//! Inside the code a planted bug is an enum variant (`Bug::NoFsync`), so a misspelt bug
//! cannot switch itself off silently: it does not compile. Outside, in scenario files,
//! `faultline list` and reports, the same values are names (`"no-fsync"`). One
//! declaration with `catalogue!` keeps the variant, its name and its description
//! together and generates the rest: the [`Named`] implementation (every value, name,
//! description, lookup by name) and serde as the name.
//!
//! ```
//! use faultline::catalog::{catalogue, CheckKind, CheckName, Named};
//!
//! catalogue! {
//!     /// Planted bugs of the system.
//!     pub enum Bug {
//!         /// Acknowledge writes without fsync: a crash loses acknowledged writes.
//!         NoFsync = "no-fsync",
//!     }
//! }
//! catalogue! {
//!     /// Checks of the system.
//!     pub enum Check: checks {
//!         /// The client history is linearizable.
//!         Linearizability = "linearizability" (Safety),
//!     }
//! }
//!
//! assert_eq!(Bug::NoFsync.name(), "no-fsync");
//! assert_eq!(Bug::from_name("no-fsync"), Some(Bug::NoFsync));
//! assert_eq!(Check::ALL, &[Check::Linearizability]);
//! assert_eq!(Check::Linearizability.kind(), CheckKind::Safety);
//! assert_eq!(serde_json::to_string(&Bug::NoFsync).unwrap(), "\"no-fsync\"");
//! ```

use std::fmt::Debug;

use serde::Serialize;

/// A closed set of named values (bugs, checks, workloads of one system).
pub trait Named: Copy + Eq + Ord + Debug + Send + Sync + 'static {
    /// Every value, in catalogue order.
    const ALL: &'static [Self];
    /// The name used in scenario files and reports.
    fn name(self) -> &'static str;
    /// One sentence for people.
    fn about(self) -> &'static str;
    /// The value called `name`.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
}

/// Whether a check judges safety or liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Nothing bad happens.
    Safety,
    /// Something good eventually happens (after the faults heal).
    Liveness,
}

/// A catalogue of checks: each check also says what kind of property it judges.
pub trait CheckName: Named {
    /// Safety or liveness.
    fn kind(self) -> CheckKind;
}

/// One catalogue line, as `faultline list` and scenario validation see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Name.
    pub name: &'static str,
    /// Safety or liveness, for checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<CheckKind>,
    /// What it is.
    pub about: &'static str,
}

impl Entry {
    /// The catalogue lines of a [`Named`] type.
    pub fn all<T: Named>() -> Vec<Entry> {
        T::ALL
            .iter()
            .map(|v| Entry {
                name: v.name(),
                kind: None,
                about: v.about(),
            })
            .collect()
    }

    /// The catalogue lines of a set of checks, with their kinds.
    pub fn checks<T: CheckName>() -> Vec<Entry> {
        T::ALL
            .iter()
            .map(|v| Entry {
                name: v.name(),
                kind: Some(v.kind()),
                about: v.about(),
            })
            .collect()
    }
}

/// Declares a catalogue enum; see the [module documentation](self).
///
/// Entries are read one at a time (a "muncher"): each adds its variant, its arms of
/// `name`, `about` and `kind`, and its values of `ALL` to accumulators, and the last step
/// writes them out. An own entry is `Variant = "name"` (checks: `Variant = "name" (Kind)`);
/// an included one is `Variant(Type)`, every value of another catalogue in its place.
#[doc(hidden)]
#[macro_export]
macro_rules! __faultline_catalogue {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($body:tt)* }
    ) => {
        $crate::catalog::catalogue!(@munch [$(#[$meta])* $vis $name] [] [] [] [] [] [] [] ; $($body)*);
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: checks { $($body:tt)* }
    ) => {
        $crate::catalog::catalogue!(@munch [$(#[$meta])* $vis $name] [] [] [] [] [] [] [checks] ; $($body)*);
    };
    // An own entry.
    (@munch [$($head:tt)*] [$($var:tt)*] [$($nm:tt)*] [$($ab:tt)*] [$($kd:tt)*] [$($n:tt)*]
        [$($push:tt)*] [$($mode:tt)*] ;
        $(#[doc = $doc:literal])+ $variant:ident = $text:literal $(($kind:ident))?, $($rest:tt)*
    ) => {
        $crate::catalog::catalogue!(@munch [$($head)*]
            [$($var)* $(#[doc = $doc])+ $variant,]
            [$($nm)* Self::$variant => $text,]
            [$($ab)* Self::$variant => concat!($($doc),+).trim_ascii(),]
            [$($kd)* $(Self::$variant => $crate::catalog::CheckKind::$kind,)?]
            [$($n)* + 1]
            [$($push)* ($variant)]
            [$($mode)*] ; $($rest)*);
    };
    // An included catalogue.
    (@munch [$($head:tt)*] [$($var:tt)*] [$($nm:tt)*] [$($ab:tt)*] [$($kd:tt)*] [$($n:tt)*]
        [$($push:tt)*] [$($mode:tt)*] ;
        $(#[doc = $doc:literal])+ $variant:ident ($ty:ty), $($rest:tt)*
    ) => {
        $crate::catalog::catalogue!(@munch [$($head)*]
            [$($var)* $(#[doc = $doc])+ $variant($ty),]
            [$($nm)* Self::$variant(v) => $crate::catalog::Named::name(v),]
            [$($ab)* Self::$variant(v) => $crate::catalog::Named::about(v),]
            [$($kd)* Self::$variant(v) => $crate::catalog::CheckName::kind(v),]
            [$($n)* + <$ty as $crate::catalog::Named>::ALL.len()]
            [$($push)* [$variant $ty]]
            [$($mode)*] ; $($rest)*);
    };
    // Every entry read: write the enum out.
    (@munch [$(#[$meta:meta])* $vis:vis $name:ident] [$($var:tt)*] [$($nm:tt)*] [$($ab:tt)*]
        [$($kd:tt)*] [$($n:tt)*] [$($push:tt)*] [$($mode:tt)*] ;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name {
            $($var)*
        }

        impl $crate::catalog::Named for $name {
            const ALL: &'static [Self] =
                $crate::catalog::catalogue!(@all $name [0 $($n)*] [$($push)*]);
            fn name(self) -> &'static str {
                match self { $($nm)* }
            }
            fn about(self) -> &'static str {
                match self { $($ab)* }
            }
        }

        $crate::catalog::catalogue!(@kind $name [$($kd)*] [$($mode)*]);
        $crate::catalog::catalogue!(@traits $name);
        $crate::catalog::catalogue!(@convert $name [$($push)*]);
    };
    // An included catalogue's values are got back with `TryFrom` (`raft::Bug::try_from`).
    (@convert $name:ident []) => {};
    (@convert $name:ident [($variant:ident) $($rest:tt)*]) => {
        $crate::catalog::catalogue!(@convert $name [$($rest)*]);
    };
    (@convert $name:ident [[$variant:ident $ty:ty] $($rest:tt)*]) => {
        impl TryFrom<$name> for $ty {
            type Error = $name;
            fn try_from(value: $name) -> Result<$ty, $name> {
                #[allow(unreachable_patterns)]
                match value {
                    $name::$variant(inner) => Ok(inner),
                    other => Err(other),
                }
            }
        }
        $crate::catalog::catalogue!(@convert $name [$($rest)*]);
    };
    // `ALL`: no values.
    (@all $name:ident [$($n:tt)*] []) => { &[] };
    // `ALL`: the values in order, the first one filling the array until each place is set.
    (@all $name:ident [$($n:tt)*] [$first:tt $($push:tt)*]) => {
        &{
            let fill = $crate::catalog::catalogue!(@first $name $first);
            let mut all = [fill; $($n)*];
            let mut i = 0;
            $crate::catalog::catalogue!(@push $name all i [$first $($push)*]);
            assert!(i == all.len(), "every place of ALL is set");
            all
        }
    };
    (@first $name:ident ($variant:ident)) => { $name::$variant };
    (@first $name:ident [$variant:ident $ty:ty]) => {
        $name::$variant(<$ty as $crate::catalog::Named>::ALL[0])
    };
    (@push $name:ident $all:ident $i:ident []) => {};
    (@push $name:ident $all:ident $i:ident [($variant:ident) $($rest:tt)*]) => {
        $all[$i] = $name::$variant;
        $i += 1;
        $crate::catalog::catalogue!(@push $name $all $i [$($rest)*]);
    };
    (@push $name:ident $all:ident $i:ident [[$variant:ident $ty:ty] $($rest:tt)*]) => {
        let values = <$ty as $crate::catalog::Named>::ALL;
        let mut j = 0;
        // Bounded by the included catalogue's length.
        while j < values.len() {
            $all[$i] = $name::$variant(values[j]);
            $i += 1;
            j += 1;
        }
        $crate::catalog::catalogue!(@push $name $all $i [$($rest)*]);
    };
    (@kind $name:ident [$($kd:tt)*] []) => {};
    (@kind $name:ident [$($kd:tt)*] [checks]) => {
        impl $crate::catalog::CheckName for $name {
            fn kind(self) -> $crate::catalog::CheckKind {
                match self { $($kd)* }
            }
        }
    };
    (@traits $name:ident) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::catalog::Named::name(*self))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                <Self as $crate::catalog::Named>::from_name(&name).ok_or_else(|| {
                    let names: Vec<&str> = <Self as $crate::catalog::Named>::ALL
                        .iter()
                        .map(|v| $crate::catalog::Named::name(*v))
                        .collect();
                    serde::de::Error::custom(format!(
                        "unknown name `{name}`: expected one of {}",
                        names.join(", ")
                    ))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::catalog::Named::name(*self))
            }
        }
    };
}

/// (The macro, under the name systems use; exported for systems outside this crate.)
pub use __faultline_catalogue as catalogue;

#[cfg(test)]
mod tests {
    use super::*;

    catalogue! {
        /// Test bugs.
        enum Bug {
            /// First bug,
            /// on two lines.
            One = "bug-one",
            /// Second bug.
            Two = "bug-two",
        }
    }

    catalogue! {
        /// Test checks.
        enum Check: checks {
            /// Always.
            Safe = "safe" (Safety),
            /// Eventually.
            Live = "live" (Liveness),
        }
    }

    catalogue! {
        /// Nothing.
        enum Nothing {}
    }

    catalogue! {
        /// A catalogue that includes another.
        enum Composed {
            /// Its own, first.
            Mine = "mine",
            /// The test bugs, in their place.
            Inner(Bug),
            /// Its own, last.
            Last = "last",
        }
    }

    catalogue! {
        /// Checks that include others.
        enum ComposedCheck: checks {
            /// Its own.
            Own = "own" (Liveness),
            /// The test checks.
            Inner(Check),
        }
    }

    #[test]
    fn included_catalogues_keep_their_place_names_and_kinds() {
        use Composed::*;
        assert_eq!(
            Composed::ALL,
            &[Mine, Inner(Bug::One), Inner(Bug::Two), Last]
        );
        assert_eq!(Composed::from_name("bug-two"), Some(Inner(Bug::Two)));
        assert_eq!(Inner(Bug::One).about(), "First bug, on two lines.");
        assert_eq!(Last.name(), "last");
        assert_eq!(
            serde_json::to_string(&Inner(Bug::Two)).unwrap(),
            "\"bug-two\""
        );
        assert!(Mine < Inner(Bug::One) && Inner(Bug::Two) < Last);
        let kinds: Vec<CheckKind> = ComposedCheck::ALL.iter().map(|c| c.kind()).collect();
        assert_eq!(
            kinds,
            [CheckKind::Liveness, CheckKind::Safety, CheckKind::Liveness]
        );
        assert_eq!(ComposedCheck::Inner(Check::Safe).name(), "safe");
        assert_eq!(Bug::try_from(Inner(Bug::Two)), Ok(Bug::Two));
        assert_eq!(Bug::try_from(Last), Err(Last));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(Bug::ALL, &[Bug::One, Bug::Two]);
        assert_eq!(Bug::from_name("bug-two"), Some(Bug::Two));
        assert_eq!(Bug::from_name("bug-three"), None);
        assert_eq!(Bug::One.about(), "First bug, on two lines.");
        assert_eq!(serde_json::to_string(&Bug::One).unwrap(), "\"bug-one\"");
        assert_eq!(
            serde_json::from_str::<Bug>("\"bug-two\"").unwrap(),
            Bug::Two
        );
        let err = serde_json::from_str::<Bug>("\"bug\"").unwrap_err();
        assert!(err.to_string().contains("bug-one, bug-two"), "{err}");
        assert_eq!(Check::Live.kind(), CheckKind::Liveness);
        assert_eq!(Entry::checks::<Check>()[0].kind, Some(CheckKind::Safety));
        assert!(Nothing::ALL.is_empty());
    }
}
