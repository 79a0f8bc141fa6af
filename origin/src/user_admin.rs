//! `edgeauth-origin users role add|remove|list EMAIL [ROLE]`: operators manage users' roles.
//! The change reaches every live session of the user at once (`set_roles.lua`), so the edge
//! applies it on the user's next request.

use clap::{Args, Subcommand};
use edgeauth_core::redis_layout::{self as layout, scripts, SESSION_PREFIX};
use edgeauth_core::roles::{is_valid_role, Roles, MAX_ROLES};
use edgeauth_upstash::{cmd, Script, UpstashClient, Value};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Add, remove or list a user's roles.
    Role {
        #[command(subcommand)]
        action: RoleAction,
        #[command(flatten)]
        redis: RedisArgs,
    },
}

#[derive(Subcommand)]
pub enum RoleAction {
    /// Grant ROLE to the user with EMAIL (effective on the user's next request).
    Add { email: String, role: String },
    /// Take ROLE away (effective on the user's next request).
    Remove { email: String, role: String },
    /// Print the user's roles, one per line.
    List { email: String },
}

#[derive(Args)]
pub struct RedisArgs {
    /// Upstash REST endpoint (as for `serve`).
    #[arg(long, env = "UPSTASH_REDIS_REST_URL")]
    redis_url: String,
    /// Its bearer token (the full one: roles are written).
    #[arg(long, env = "UPSTASH_REDIS_REST_TOKEN", hide_env_values = true)]
    redis_token: String,
}

pub async fn run(command: UsersCommand) -> Result<(), String> {
    let UsersCommand::Role { action, redis } = command;
    let client = UpstashClient::new(&redis.redis_url, &redis.redis_token)
        .map_err(|e| format!("cannot use UPSTASH_REDIS_REST_URL/TOKEN: {e}"))?;
    let (op, email, role) = match &action {
        RoleAction::Add { email, role } => ("add", email, role.as_str()),
        RoleAction::Remove { email, role } => ("remove", email, role.as_str()),
        RoleAction::List { email } => ("list", email, ""),
    };
    if op != "list" && !is_valid_role(role) {
        return Err(format!(
            "\"{role}\" is not a role name: 1-64 of a-z 0-9 _ . : -, starting with a letter or digit"
        ));
    }
    let canonical = edgeauth_core::email::canonical(email).map_err(|e| format!("{email}: {e}"))?;
    let user_id = match client
        .execute(&cmd("GET").arg(layout::user_by_email(&canonical)))
        .await
        .map_err(|e| format!("Redis: {e}"))?
    {
        Value::Nil => return Err(format!("no user with email {email}")),
        id => id
            .into_string()
            .map_err(|e| format!("Redis: unexpected email index entry: {e}"))?,
    };
    let reply = client
        .eval_script(
            &Script::new(scripts::SET_ROLES),
            [layout::user(&user_id), layout::user_sessions(&user_id)],
            [
                op.to_owned(),
                role.to_owned(),
                SESSION_PREFIX.to_owned(),
                MAX_ROLES.to_string(),
            ],
        )
        .await
        .map_err(|e| format!("Redis: {e}"))?;
    let parts: Vec<String> = reply
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    match parts.as_slice() {
        [status, field] if status == "ok" => {
            let roles = Roles::from_field(Some(field));
            if op == "list" {
                for role in roles.as_slice() {
                    println!("{role}");
                }
            } else {
                eprintln!(
                    "{email}: roles now [{}] (effective on the next request)",
                    roles.as_slice().join(", ")
                );
            }
            Ok(())
        }
        [status] if status == "no_user" => Err(format!("no user with email {email}")),
        [status] if status == "too_many" => {
            Err(format!("{email} would hold more than {MAX_ROLES} roles"))
        }
        _ => Err(format!("Redis: unexpected reply from set_roles: {reply:?}")),
    }
}
