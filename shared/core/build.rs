//! Embeds the built-in templates (`templates/`) in the binary.
fn main() {
    minijinja_embed::embed_templates!("templates");
}
