//! `davit component validate|run|push|list`: AWSTOE component documents, as `awstoe validate`
//! and `awstoe run` treat them, and the store of their versions. One file per subcommand
//! under `component/` (`store.rs` for push and list).

mod run;
mod store;
mod validate;

use clap::Subcommand;

use crate::Exit;

pub use run::RunArgs;
pub(crate) use run::{action_sandbox, load_policy, s3_from_env};
pub use store::{ListArgs, PushArgs, default_dir as store_dir};
pub use validate::ValidateArgs;

#[derive(Subcommand)]
pub enum ComponentCommand {
    /// Check a component document as `awstoe validate` does (exit 2 with every error at
    /// file:line:column)
    #[command(after_help = validate::OUTCOMES)]
    Validate(ValidateArgs),
    /// Run a component document's phases against an image root (`--target-root`) or this host,
    /// as `awstoe run` does, each action sandboxed
    #[command(after_help = run::OUTCOMES)]
    Run(RunArgs),
    /// Put a component document in the store under a name and semantic version, for recipes'
    /// `component: NAME@1.x.x`
    #[command(after_help = store::OUTCOMES)]
    Push(PushArgs),
    /// The store's components and their versions (davit's built-in ones first)
    List(ListArgs),
}

pub async fn run(cmd: ComponentCommand) -> Result<(), Exit> {
    match cmd {
        ComponentCommand::Validate(args) => validate::run(args),
        ComponentCommand::Run(args) => run::run(args).await,
        ComponentCommand::Push(args) => store::push(args),
        ComponentCommand::List(args) => store::list(args),
    }
}

/// `--parameters K=V,K2=V2`, checked against the document; every error is rendered and the
/// exit is 2.
fn bind(
    doc: &davit_toe::Document,
    text: Option<&str>,
) -> Result<(Vec<(String, String)>, davit_toe::Bindings), davit_toe::ToeError> {
    let given = match text {
        Some(t) => davit_toe::parse_parameters(t)?,
        None => Vec::new(),
    };
    let bound = doc.bind(&given)?;
    doc.expand(&bound)?;
    Ok((given, bound))
}

/// Renders every error of a document (each at file:line:column) and returns exit 2.
fn invalid(file: &str, error: &davit_toe::ToeError) -> Exit {
    let errors = error.errors();
    for e in errors {
        crate::render::error(&anyhow::anyhow!("{e}"));
    }
    if errors.len() > 1 {
        crate::render::error(&anyhow::anyhow!(
            "`{file}` is not a valid component document: {} errors",
            errors.len()
        ));
    }
    Exit {
        code: crate::exit::INVALID,
        error: None,
    }
}
