//! Helpers that build schema attributes and blocks with markdown descriptions. Components use
//! them to describe their own attributes; prose about defaults and ranges comes from the same
//! [`Limit`] constants that plan-time defaults and validation use.

use nami_contract::limits::Limit;
use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType, Block, Description};

/// An attribute with a markdown description.
pub fn attribute(
    attr_type: AttributeType,
    constraint: AttributeConstraint,
    description: &str,
) -> Attribute {
    Attribute {
        attr_type,
        description: Description::markdown(description),
        constraint,
        ..Default::default()
    }
}

/// A computed string (an id AWS assigns).
pub fn computed(description: &str) -> Attribute {
    attribute(
        AttributeType::String,
        AttributeConstraint::Computed,
        description,
    )
}

/// An optional number with a default: `"<what>, <min>–<max>. Default <default>."`.
pub fn number(what: &str, limit: Limit) -> Attribute {
    attribute(
        AttributeType::Number,
        AttributeConstraint::OptionalComputed,
        &format!("{what}, {}", limit.describe()),
    )
}

/// The attribute, marked sensitive (hidden in plans and logs).
pub fn sensitive(mut attribute: Attribute) -> Attribute {
    attribute.sensitive = true;
    attribute
}

/// A block with a markdown description and its attributes.
pub fn block(description: &str, attributes: Vec<(&str, Attribute)>) -> Block {
    Block {
        description: Description::markdown(description),
        attributes: attributes
            .into_iter()
            .map(|(name, a)| (name.to_owned(), a))
            .collect(),
        ..Default::default()
    }
}
