//! Knobs: scenario settings that are either fixed or sampled per seed.
//!
//! A knob in a scenario file is written either as a value (`loss_probability = 0.01`) or
//! as an inclusive range (`loss_probability = [0.0, 0.05]`). A range is sampled once per
//! seed, so a sweep explores the whole range. A knob left out takes its documented
//! default — or, when the scenario sets `swarm = true`, is sampled per seed from the
//! knob's declared swarm range (TigerBeetle's "swarm testing": every seed gets a
//! different mix of settings, so rare combinations are reached).
//!
//! Each knob samples from its own sub-stream (`swarm/<path>`), so adding a knob never
//! changes the values another knob gets for the same seed.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::rng::{streams, SubStream};

/// A knob as written in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Knob<T> {
    /// One value for every seed.
    Fixed(T),
    /// An inclusive range, sampled per seed.
    Range(T, T),
}

/// A type a knob can hold.
pub trait KnobValue: Copy + PartialOrd + fmt::Display + Serialize + 'static {
    /// What the file must contain, for error messages ("a non-negative integer").
    const EXPECTED: &'static str;
    /// Convert a TOML integer.
    fn from_i64(v: i64) -> Result<Self, String>;
    /// Convert a TOML float.
    fn from_f64(v: f64) -> Result<Self, String>;
    /// Convert a TOML boolean.
    fn from_bool(v: bool) -> Result<Self, String> {
        Err(format!(
            "expected {}, found a boolean `{v}`",
            Self::EXPECTED
        ))
    }
    /// Sample uniformly from `[lo, hi]`.
    fn sample(lo: Self, hi: Self, rng: &mut SubStream) -> Self;
}

impl KnobValue for u64 {
    const EXPECTED: &'static str = "a non-negative integer";
    fn from_i64(v: i64) -> Result<Self, String> {
        u64::try_from(v).map_err(|_| format!("expected {}, found {v}", Self::EXPECTED))
    }
    fn from_f64(v: f64) -> Result<Self, String> {
        Err(format!("expected {}, found the float {v}", Self::EXPECTED))
    }
    fn sample(lo: Self, hi: Self, rng: &mut SubStream) -> Self {
        rng.range_u64(lo, hi)
    }
}

impl KnobValue for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_i64(v: i64) -> Result<Self, String> {
        Ok(v as f64)
    }
    fn from_f64(v: f64) -> Result<Self, String> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(format!("expected a finite number, found {v}"))
        }
    }
    fn sample(lo: Self, hi: Self, rng: &mut SubStream) -> Self {
        rng.range_f64(lo, hi)
    }
}

impl KnobValue for bool {
    const EXPECTED: &'static str = "true or false";
    fn from_i64(v: i64) -> Result<Self, String> {
        Err(format!("expected {}, found {v}", Self::EXPECTED))
    }
    fn from_f64(v: f64) -> Result<Self, String> {
        Err(format!("expected {}, found {v}", Self::EXPECTED))
    }
    fn from_bool(v: bool) -> Result<Self, String> {
        Ok(v)
    }
    fn sample(lo: Self, hi: Self, rng: &mut SubStream) -> Self {
        if lo == hi {
            lo
        } else {
            rng.chance(0.5)
        }
    }
}

impl<T: KnobValue> Knob<T> {
    /// The smallest value the knob can take.
    pub fn min(&self) -> T {
        match *self {
            Knob::Fixed(v) => v,
            Knob::Range(lo, _) => lo,
        }
    }
    /// The largest value the knob can take.
    pub fn max(&self) -> T {
        match *self {
            Knob::Fixed(v) => v,
            Knob::Range(_, hi) => hi,
        }
    }
}

/// A `<stem>_min` knob whose least value exceeds the `<stem>_max` knob's largest value
/// (e.g. `network.latency_ms`): the problem, located at the `_max` key.
pub fn crossed_bounds(
    stem: &str,
    lo: &Option<Knob<u64>>,
    hi: &Option<Knob<u64>>,
) -> Option<(String, String)> {
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return None;
    };
    if lo.min() <= hi.max() {
        return None;
    }
    let (lo_key, hi_key) = (format!("{stem}_min"), format!("{stem}_max"));
    let message = format!(
        "contradictory settings: `{hi_key}` ({}) is below `{lo_key}` ({})",
        hi.max(),
        lo.min()
    );
    Some((hi_key, message))
}

/// Static description of one knob, for validation, sampling and documentation.
#[derive(Debug, Clone, Copy)]
pub struct KnobSpec<T> {
    /// Dotted path in the scenario file, e.g. `network.loss_probability`.
    pub path: &'static str,
    /// The value when unset (and `swarm` is off).
    pub default: T,
    /// The range sampled when unset and `swarm = true`.
    pub swarm: (T, T),
    /// The values a file may give.
    pub valid: (T, T),
}

impl<T: KnobValue> KnobSpec<T> {
    /// Check a knob as written; describe what is wrong (the caller adds the location).
    pub fn check(&self, knob: &Knob<T>) -> Result<(), String> {
        let (lo, hi) = self.valid;
        for v in [knob.min(), knob.max()] {
            if v < lo || v > hi {
                return Err(format!(
                    "`{}` = {v} is out of range: allowed values are {lo} to {hi}",
                    self.path
                ));
            }
        }
        if let Knob::Range(a, b) = *knob {
            if a > b {
                return Err(format!(
                    "`{}` = [{a}, {b}] is an empty range: write [min, max] with min <= max",
                    self.path
                ));
            }
        }
        Ok(())
    }

    /// The value for `seed`: fixed, sampled from the file's range, sampled from the
    /// swarm range, or the default.
    pub fn resolve(&self, knob: Option<&Knob<T>>, swarm: bool, seed: u64) -> T {
        let range = match knob {
            Some(Knob::Fixed(v)) => return *v,
            Some(Knob::Range(lo, hi)) => (*lo, *hi),
            None if swarm => self.swarm,
            None => return self.default,
        };
        let mut rng = SubStream::new(seed, &format!("{}/{}", streams::SWARM, self.path));
        T::sample(range.0, range.1, &mut rng)
    }
}

impl<T: KnobValue> KnobSpec<T> {
    /// The least (`high` false) or greatest (`high` true) value any seed can get.
    pub fn corner(&self, knob: Option<&Knob<T>>, swarm: bool, high: bool) -> T {
        let (lo, hi) = match knob {
            Some(k) => (k.min(), k.max()),
            None if swarm => self.swarm,
            None => (self.default, self.default),
        };
        if high {
            hi
        } else {
            lo
        }
    }
}

impl<'de, T: KnobValue> Deserialize<'de> for Knob<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KnobVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: KnobValue> Visitor<'de> for KnobVisitor<T> {
            type Value = Knob<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{} or a [min, max] range", T::EXPECTED)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::from_i64(v).map(Knob::Fixed).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                let v = i64::try_from(v).map_err(|_| E::custom("integer too large"))?;
                self.visit_i64(v)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                T::from_f64(v).map(Knob::Fixed).map_err(E::custom)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                T::from_bool(v).map(Knob::Fixed).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let shape = || {
                    de::Error::custom(format!(
                        "a range is written [min, max]: two values, each {}",
                        T::EXPECTED
                    ))
                };
                let lo: KnobScalar<T> = seq.next_element()?.ok_or_else(shape)?;
                let hi: KnobScalar<T> = seq.next_element()?.ok_or_else(shape)?;
                if seq.next_element::<KnobScalar<T>>()?.is_some() {
                    return Err(shape());
                }
                Ok(Knob::Range(lo.0, hi.0))
            }
        }

        deserializer.deserialize_any(KnobVisitor(std::marker::PhantomData))
    }
}

/// One end of a range: a scalar knob value.
struct KnobScalar<T>(T);

impl<'de, T: KnobValue> Deserialize<'de> for KnobScalar<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Knob::<T>::deserialize(deserializer)? {
            Knob::Fixed(v) => Ok(KnobScalar(v)),
            Knob::Range(..) => Err(de::Error::custom(format!(
                "a range end must be {}, not another range",
                T::EXPECTED
            ))),
        }
    }
}

impl<T: KnobValue> Serialize for Knob<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Knob::Fixed(v) => v.serialize(serializer),
            Knob::Range(lo, hi) => [lo, hi].serialize(serializer),
        }
    }
}

/// One line of the knob catalogue (`faultline list knobs`, the scenario reference).
#[derive(Debug, Clone, Serialize)]
pub struct KnobDoc {
    /// Dotted path.
    pub path: &'static str,
    /// Default when unset.
    pub default: String,
    /// Swarm range.
    pub swarm: String,
    /// Allowed values.
    pub valid: String,
    /// What it does.
    pub doc: &'static str,
}

/// A scenario section made of knobs, as `knob_section!` declares it.
///
/// ```
/// use faultline::knob::{knob_section, Knob, KnobSection};
///
/// knob_section! {
///     /// `[shop]`: settings of a shop.
///     ShopSection => ShopParams at "shop" {
///         /// How long the store gathers writes before one fsync (ms).
///         flush_interval_ms: u64 = 2, swarm [1, 10], valid [1, 10_000];
///     }
/// }
///
/// // A scenario that leaves the knob out gets its default; swarm mode draws it per seed.
/// let unset = ShopSection::default();
/// assert_eq!(unset.resolve(false, 7).flush_interval_ms, 2);
/// let drawn = unset.resolve(true, 7).flush_interval_ms;
/// assert!((1..=10).contains(&drawn));
/// // A value outside its valid range is a problem named by its dotted path.
/// let bad = ShopSection { flush_interval_ms: Some(Knob::Fixed(0)) };
/// let mut problems = Vec::new();
/// bad.check(&mut problems);
/// assert_eq!(problems[0].0, "shop.flush_interval_ms");
/// assert_eq!(ShopSection::docs()[0].path, "shop.flush_interval_ms");
/// ```
pub trait KnobSection:
    Default + serde::de::DeserializeOwned + Serialize + fmt::Debug + Send + Sync + 'static
{
    /// The resolved settings of one seed.
    type Params;
    /// Check every knob that is set: (dotted path, message) per problem.
    fn check(&self, problems: &mut Vec<(String, String)>);
    /// The concrete settings of `seed`.
    fn resolve(&self, swarm: bool, seed: u64) -> Self::Params;
    /// Every knob at the least (`high` false) or greatest (`high` true) value any seed
    /// can get: the corners of the settings a sweep explores, for load estimates.
    fn corner(&self, swarm: bool, high: bool) -> Self::Params;
    /// The catalogue of the section's knobs.
    fn docs() -> Vec<KnobDoc>;
    /// Check resolved settings (read back from a plan file, which no scenario
    /// validated): every value in its knob's valid range.
    fn check_params(params: &Self::Params, problems: &mut Vec<(String, String)>);
}

/// Declares a scenario section made of knobs: the serde struct of the file (every knob
/// optional), the resolved parameter struct (every knob concrete), the knob specs, and
/// validation and resolution. One declaration keeps a knob's default, swarm range,
/// valid range and documentation together. A knob added after plans were written may
/// say how plans store it, `#[plan(skip_serializing_if = "…")]` after its documentation,
/// so that a plan which does not use it reads as it always did.
#[doc(hidden)]
#[macro_export]
macro_rules! __faultline_knob_section {
    (
        $(#[$smeta:meta])*
        $section:ident => $params:ident at $path:literal {
            $(
                $(#[doc = $doc:literal])+
                $(#[plan($($plan:tt)*)])?
                $field:ident : $ty:ty = $default:expr, swarm [$slo:expr, $shi:expr], valid [$vlo:expr, $vhi:expr];
            )*
        }
        $(
            plain {
                $(
                    $(#[doc = $pdoc:literal])+
                    $pfield:ident : $pty:ty = $pdefault:expr;
                )*
            }
        )?
    ) => {
        $(#[$smeta])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct $section {
            $(
                $(#[doc = $doc])+
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$crate::knob::Knob<$ty>>,
            )*
            $($(
                $(#[doc = $pdoc])+
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $pfield: Option<$pty>,
            )*)?
        }

        #[doc = concat!("The resolved `[", $path, "]` settings of one seed.")]
        ///
        /// A plan written before a knob existed reads it as its default (`serde(default)`).
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct $params {
            $(
                $(#[doc = $doc])+
                $(#[serde($($plan)*)])?
                pub $field: $ty,
            )*
            $($(
                $(#[doc = $pdoc])+
                pub $pfield: $pty,
            )*)?
        }

        impl Default for $params {
            fn default() -> Self {
                $params {
                    $($field: $default,)*
                    $($($pfield: $pdefault,)*)?
                }
            }
        }

        impl $section {
            $(
                #[allow(missing_docs)]
                pub const fn $field() -> $crate::knob::KnobSpec<$ty> {
                    $crate::knob::KnobSpec {
                        path: concat!($path, ".", stringify!($field)),
                        default: $default,
                        swarm: ($slo, $shi),
                        valid: ($vlo, $vhi),
                    }
                }
            )*

            /// Check every knob that is set: (dotted path, message) per problem.
            // A section without knobs pushes nothing, and clippy would ask for a slice.
            #[allow(clippy::ptr_arg)]
            pub fn check(&self, problems: &mut Vec<(String, String)>) {
                $(
                    if let Some(knob) = &self.$field {
                        if let Err(message) = Self::$field().check(knob) {
                            problems.push((Self::$field().path.to_string(), message));
                        }
                    }
                )*
            }

            /// The concrete settings of `seed`.
            pub fn resolve(&self, swarm: bool, seed: u64) -> $params {
                $params {
                    $( $field: Self::$field().resolve(self.$field.as_ref(), swarm, seed), )*
                    $($( $pfield: self.$pfield.clone().unwrap_or($pdefault), )*)?
                }
            }

            /// Every knob at the least (`high` false) or greatest (`high` true) value any
            /// seed can get.
            pub fn corner(&self, swarm: bool, high: bool) -> $params {
                $params {
                    $( $field: Self::$field().corner(self.$field.as_ref(), swarm, high), )*
                    $($( $pfield: self.$pfield.clone().unwrap_or($pdefault), )*)?
                }
            }

            /// The catalogue of this section's knobs.
            pub fn docs() -> Vec<$crate::knob::KnobDoc> {
                vec![
                    $(
                        {
                            let spec = Self::$field();
                            $crate::knob::KnobDoc {
                                path: spec.path,
                                default: spec.default.to_string(),
                                swarm: format!("[{}, {}]", spec.swarm.0, spec.swarm.1),
                                valid: format!("{} to {}", spec.valid.0, spec.valid.1),
                                doc: concat!($($doc, "\n"),+).trim(),
                            }
                        },
                    )*
                    $($(
                        $crate::knob::KnobDoc {
                            path: concat!($path, ".", stringify!($pfield)),
                            default: format!("{:?}", $pdefault).to_lowercase(),
                            swarm: "-".to_string(),
                            valid: "see meaning".to_string(),
                            doc: concat!($($pdoc, "\n"),+).trim(),
                        },
                    )*)?
                ]
            }
        }

        impl $params {
            /// Check that every value is in its knob's valid range (settings read back
            /// from a plan file, which no scenario validated): (dotted path, message).
            #[allow(dead_code, clippy::ptr_arg)]
            pub fn check_values(&self, problems: &mut Vec<(String, String)>) {
                $(
                    if let Err(message) =
                        $section::$field().check(&$crate::knob::Knob::Fixed(self.$field.clone()))
                    {
                        problems.push(($section::$field().path.to_string(), message));
                    }
                )*
            }
        }

        impl $crate::knob::KnobSection for $section {
            type Params = $params;
            fn check(&self, problems: &mut Vec<(String, String)>) {
                $section::check(self, problems)
            }
            fn resolve(&self, swarm: bool, seed: u64) -> $params {
                $section::resolve(self, swarm, seed)
            }
            fn corner(&self, swarm: bool, high: bool) -> $params {
                $section::corner(self, swarm, high)
            }
            fn docs() -> Vec<$crate::knob::KnobDoc> {
                $section::docs()
            }
            fn check_params(params: &$params, problems: &mut Vec<(String, String)>) {
                params.check_values(problems)
            }
        }
    };
}

/// (The macro, under the name systems use; exported for systems outside this crate.)
pub use __faultline_knob_section as knob_section;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        a: Knob<u64>,
        b: Knob<f64>,
    }

    #[test]
    fn parses_values_and_ranges() {
        let t: T = toml::from_str("a = 3\nb = [0, 0.5]").unwrap();
        assert_eq!(t.a, Knob::Fixed(3));
        assert_eq!(t.b, Knob::Range(0.0, 0.5));
        let err = toml::from_str::<T>("a = -1\nb = 1").unwrap_err();
        assert!(err.message().contains("non-negative"), "{err}");
        let err = toml::from_str::<T>("a = [1, 2, 3]\nb = 1").unwrap_err();
        assert!(err.message().contains("[min, max]"), "{err}");
        let err = toml::from_str::<T>("a = \"x\"\nb = 1").unwrap_err();
        assert!(err.message().contains("range"), "{err}");
    }

    #[test]
    fn resolves_deterministically() {
        let spec = KnobSpec {
            path: "t.k",
            default: 5u64,
            swarm: (1, 100),
            valid: (0, 1000),
        };
        assert_eq!(spec.resolve(None, false, 9), 5);
        assert_eq!(spec.resolve(Some(&Knob::Fixed(7)), true, 9), 7);
        let a = spec.resolve(None, true, 9);
        assert_eq!(a, spec.resolve(None, true, 9));
        assert!((1..=100).contains(&a));
        let r = spec.resolve(Some(&Knob::Range(10, 20)), false, 9);
        assert!((10..=20).contains(&r));
        assert!(spec.check(&Knob::Fixed(2000)).is_err());
        assert!(spec.check(&Knob::Range(5, 1)).is_err());
        assert!(spec.check(&Knob::Range(1, 5)).is_ok());
    }
}
