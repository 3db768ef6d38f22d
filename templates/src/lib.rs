//! Starter strategy projects, one per guest language, written by
//! `cracktrader new-strategy <name> --lang rust|c|js|python`.
//!
//! Every template is the same small strategy (buy when the close rises above
//! its moving average, sell when it falls below) using that language's guest
//! helpers, plus a `session.toml` that backtests it on the bundled EURUSD
//! data and a README with the build and run commands. A template refers to
//! the Cracktrader checkout it was generated from (its `guest-sdk/`, `wit/`
//! and example data) by absolute path, so the project can live anywhere.
//!
//! The build command of every language is `cargo xtask plugin <dir>`, run in
//! that checkout: it installs the pinned toolchain on first use and writes
//! `target/plugins/<name>.wasm`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A language a strategy can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A Rust crate using `cracktrader-guest`.
    Rust,
    /// C with the wit-bindgen C bindings and `guest-sdk/c`.
    C,
    /// JavaScript (ES module) with `guest-sdk/js`.
    Js,
    /// Python with `guest-sdk/python`.
    Python,
}

impl Lang {
    /// Every language.
    pub const ALL: [Lang; 4] = [Lang::Rust, Lang::C, Lang::Js, Lang::Python];

    /// The name used on command lines and in `guest-sdk/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Js => "js",
            Lang::Python => "python",
        }
    }

    /// The file whose presence makes a directory a plugin of this language.
    pub fn entry_file(self) -> &'static str {
        match self {
            Lang::Rust => "Cargo.toml",
            Lang::C => "strategy.c",
            Lang::Js => "strategy.js",
            Lang::Python => "strategy.py",
        }
    }

    /// The language of the plugin in `dir`, by its entry file.
    pub fn detect(dir: &Path) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|lang| dir.join(lang.entry_file()).is_file())
    }

    /// The template's files: (path in the project, text with placeholders).
    fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Rust => &[
                ("Cargo.toml", include_str!("../files/rust/Cargo.toml")),
                ("src/lib.rs", include_str!("../files/rust/src/lib.rs")),
            ],
            Lang::C => &[("strategy.c", include_str!("../files/c/strategy.c"))],
            Lang::Js => &[("strategy.js", include_str!("../files/js/strategy.js"))],
            Lang::Python => &[("strategy.py", include_str!("../files/python/strategy.py"))],
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(text: &str) -> Result<Lang, String> {
        Lang::ALL
            .into_iter()
            .find(|lang| lang.name() == text)
            .ok_or_else(|| format!("unknown language '{text}' (expected rust, c, js or python)"))
    }
}

/// Why a template could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The strategy name cannot name a directory, a crate and a component.
    #[error("invalid strategy name '{name}': use lowercase letters, digits and '-', starting with a letter")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The project directory exists and is not empty.
    #[error("{}: already exists and is not empty", dir.display())]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// `checkout` is not a Cracktrader checkout.
    #[error("{}: not a Cracktrader checkout (no wit/strategy.wit); run inside one or pass --checkout", checkout.display())]
    NotACheckout {
        /// The directory searched.
        checkout: PathBuf,
    },
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// What [`write`] produced.
#[derive(Debug)]
pub struct Written {
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
    /// The command that builds the plugin, to run in the checkout.
    pub build: String,
    /// The command that backtests it, to run in the checkout.
    pub backtest: String,
}

/// The Cracktrader checkout holding `start` or one of its ancestors: the
/// nearest directory with `wit/strategy.wit`.
pub fn find_checkout(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("wit").join("strategy.wit").is_file())
        .map(Path::to_path_buf)
}

/// Writes the `lang` template for a strategy called `name` into `dir`
/// (created if needed; must be empty), referring to `checkout`.
///
/// Files whose text is already what the template says are left untouched, so
/// regenerating over an earlier output (with `overwrite`) does not make
/// builds see a change.
pub fn write(
    lang: Lang,
    name: &str,
    dir: &Path,
    checkout: &Path,
    overwrite: bool,
) -> Result<Written, TemplateError> {
    if !valid_name(name) {
        return Err(TemplateError::InvalidName {
            name: name.to_string(),
        });
    }
    if !checkout.join("wit").join("strategy.wit").is_file() {
        return Err(TemplateError::NotACheckout {
            checkout: checkout.to_path_buf(),
        });
    }
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TemplateError::Io { path, source }
    };
    let checkout = checkout.canonicalize().map_err(io_error(checkout))?;
    if !overwrite && fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(TemplateError::NotEmpty {
            dir: dir.to_path_buf(),
        });
    }
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let dir = dir.canonicalize().map_err(io_error(dir))?;
    let build = format!("cargo xtask plugin {}", dir.display());
    let session = dir.join("session.toml");
    let backtest = format!(
        "cargo run --release -p cracktrader-cli -- backtest {}",
        session.display()
    );
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{repo}}", &checkout.display().to_string())
            .replace("{{build}}", &build)
            .replace("{{backtest}}", &backtest)
            .replace("{{lang}}", lang.name())
    };
    let common = [
        ("session.toml", include_str!("../files/session.toml")),
        ("README.md", include_str!("../files/README.md")),
    ];
    let mut texts: Vec<(&str, String)> = lang
        .files()
        .iter()
        .chain(&common)
        .map(|(path, text)| (*path, fill(text)))
        .collect();
    if lang == Lang::Js {
        // componentize-js lets the engine read only files below the
        // project, so the helper module is copied beside the strategy.
        let helper = checkout.join("guest-sdk").join("js").join("cracktrader.js");
        let text = fs::read_to_string(&helper).map_err(io_error(&helper))?;
        texts.push(("cracktrader.js", text));
    }
    let mut files = Vec::new();
    for (path, text) in texts {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        if fs::read_to_string(&path).map_or(true, |existing| existing != text) {
            fs::write(&path, text).map_err(io_error(&path))?;
        }
        files.push(path);
    }
    Ok(Written {
        files,
        build,
        backtest,
    })
}

/// Lowercase ASCII letters, digits and '-', starting with a letter, not
/// ending with '-': a valid directory, crate, file and WIT-friendly name.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout() -> PathBuf {
        find_checkout(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("inside the checkout")
    }

    #[test]
    fn names_must_work_as_directory_crate_and_component() {
        for ok in ["momentum", "sma-2", "a"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "Momentum", "2sma", "sma_2", "sma-", "-x", "a b", "../x"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn languages_parse_by_name() {
        for lang in Lang::ALL {
            assert_eq!(lang.name().parse::<Lang>(), Ok(lang));
        }
        assert_eq!(
            "go".parse::<Lang>().unwrap_err(),
            "unknown language 'go' (expected rust, c, js or python)"
        );
    }

    #[test]
    fn writes_every_language_with_no_placeholder_left() {
        let out = tempfile::tempdir().unwrap();
        for lang in Lang::ALL {
            let dir = out.path().join(lang.name()).join("my-strat");
            let written = write(lang, "my-strat", &dir, &checkout(), false).unwrap();
            assert_eq!(Lang::detect(&dir), Some(lang));
            assert!(written.build.starts_with("cargo xtask plugin /"));
            for file in &written.files {
                let text = fs::read_to_string(file).unwrap();
                assert!(!text.contains("{{"), "{}: {text}", file.display());
            }
            let session = fs::read_to_string(dir.join("session.toml")).unwrap();
            assert!(
                session.contains("target/plugins/my-strat.wasm"),
                "{session}"
            );
        }
    }

    #[test]
    fn refuses_bad_names_non_empty_directories_and_foreign_checkouts() {
        let out = tempfile::tempdir().unwrap();
        let err = write(Lang::C, "My", out.path(), &checkout(), false).unwrap_err();
        assert!(matches!(err, TemplateError::InvalidName { .. }), "{err}");
        fs::write(out.path().join("keep.txt"), "mine").unwrap();
        let err = write(Lang::C, "x", out.path(), &checkout(), false).unwrap_err();
        assert!(
            err.to_string().ends_with("already exists and is not empty"),
            "{err}"
        );
        let err = write(Lang::C, "x", &out.path().join("x"), out.path(), false).unwrap_err();
        assert!(
            err.to_string().contains("not a Cracktrader checkout"),
            "{err}"
        );
        // Overwriting regenerates the template's files and keeps the others.
        write(Lang::C, "x", out.path(), &checkout(), true).unwrap();
        assert_eq!(
            fs::read_to_string(out.path().join("keep.txt")).unwrap(),
            "mine"
        );
    }
}
