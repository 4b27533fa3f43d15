//! A well-formed component that does not implement `iohost:handler`: iohost must refuse it and
//! keep serving whatever version it had.

wit_bindgen::generate!({
    inline: r#"
        package fixture:other@1.0.0;
        world other {
            export run: func(input: string) -> string;
        }
    "#,
    world: "other",
});

struct Other;

impl Guest for Other {
    fn run(input: String) -> String {
        input
    }
}

export!(Other);
