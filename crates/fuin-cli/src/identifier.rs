//! `fuin identifier`: the per-audience identifiers of `spec/identifiers.md`
//! (`spec/client.md` §13), for the user to hand an outside audience.

use fuin_client::AudienceConversation;
use serde_json::json;

use crate::commands::{StoreArgs, open_store};
use crate::output::{Answer, Failure};

/// `fuin identifier`'s options.
#[derive(clap::Args)]
pub struct IdentifierArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The audience's own stable name (1 to 255 bytes).
    pub audience: String,
    /// For the one-to-one conversation with this user.
    #[arg(long, conflicts_with = "group")]
    pub with: Option<String>,
    /// For this group (its id or a unique prefix).
    #[arg(long)]
    pub group: Option<String>,
    /// The group's shared identifier instead of this user's own.
    #[arg(long, requires = "group")]
    pub shared: bool,
}

/// Runs `fuin identifier`.
pub async fn run(args: IdentifierArgs) -> Result<Answer, Failure> {
    let client = open_store(&args.store).await?;
    let (kind, conversation, identifier) = match (&args.with, &args.group) {
        (Some(user), _) => {
            let value = client
                .audience_identifier(&args.audience, &AudienceConversation::Direct(user.clone()))
                .await?;
            ("conversation", json!({ "with": user }), Some(value))
        }
        (None, Some(group)) => {
            let id = crate::group::resolve(&client, group).await?;
            if args.shared {
                let value = client.group_shared_identifier(&args.audience, &id).await?;
                ("shared", json!({ "group": id }), value)
            } else {
                let value = client
                    .audience_identifier(&args.audience, &AudienceConversation::Group(id.clone()))
                    .await?;
                ("conversation", json!({ "group": id }), Some(value))
            }
        }
        (None, None) => {
            let value = client.audience_user_identifier(&args.audience).await?;
            ("user", serde_json::Value::Null, Some(value))
        }
    };
    let text = match &identifier {
        Some(value) => value.clone(),
        None => "no shared identifier: no member has shared a consent \
                 (fuin group share-consent)"
            .to_owned(),
    };
    Ok(Answer {
        text,
        json: json!({
            "audience": args.audience,
            "kind": kind,
            "conversation": conversation,
            "identifier": identifier,
        }),
    })
}
