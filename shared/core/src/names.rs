//! Enums that read and write themselves by name.

/// Declares an enum whose serde form and strum forms (`Display`, `FromStr`, `&'static str`, the
/// list of variants) are one spelling, in the given case (`snake_case`, `kebab-case`,
/// `lowercase`; a variant's own `#[serde(rename)]`/`#[strum(serialize)]` wins), with `as_str()`
/// and `all()`.
macro_rules! named_enum {
    (
        $case:literal;
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident),* $(,)? }
    ) => {
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
            strum::Display,
            strum::EnumString,
            strum::IntoStaticStr,
            strum::VariantArray,
        )]
        #[serde(rename_all = $case)]
        #[strum(serialize_all = $case)]
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant),*
        }

        impl $name {
            /// Its name, as serde writes it.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// Every variant, in declaration order.
            pub fn all() -> &'static [Self] {
                <Self as strum::VariantArray>::VARIANTS
            }
        }
    };
}

pub(crate) use named_enum;
