//! The environment variables Poetry reads credentials from, for `credd exec`.
//!
//! Poetry builds the name of a setting's variable as `POETRY_` + its keys upper-cased with `-`
//! as `_`, joined by `_`: `http-basic.my-repo.password` is `POETRY_HTTP_BASIC_MY_REPO_PASSWORD`.
//! Dots stay, so a source named `my.repo` has a variable no shell can export, and names that differ
//! only by case or by `-`/`_` share one variable.

use credd_protocol::Secret;

/// What credd puts in the environment for one Poetry source or repository.
#[derive(Debug)]
pub enum Credential {
    /// `POETRY_HTTP_BASIC_<K>_USERNAME` (when there is a username) and `_PASSWORD`.
    HttpBasic {
        /// The login name, if any.
        username: Option<String>,
        /// The password.
        password: Secret,
    },
    /// `POETRY_PYPI_TOKEN_<K>`, which only `poetry publish` reads.
    Token(Secret),
}

impl Credential {
    /// The variables' common prefix for a source or repository named `name`.
    fn prefix(&self, name: &str) -> String {
        match self {
            Self::HttpBasic { .. } => format!("POETRY_HTTP_BASIC_{}", key(name)),
            Self::Token(_) => format!("POETRY_PYPI_TOKEN_{}", key(name)),
        }
    }

    fn same_as(&self, other: &Credential) -> bool {
        match (self, other) {
            (
                Self::HttpBasic { username, password },
                Self::HttpBasic {
                    username: u,
                    password: p,
                },
            ) => username == u && password.expose() == p.expose(),
            (Self::Token(a), Self::Token(b)) => a.expose() == b.expose(),
            _ => false,
        }
    }
}

/// One variable to set.
#[derive(Debug)]
pub struct Var {
    /// The variable's name.
    pub name: String,
    /// Its value (a username, password or token).
    pub value: Secret,
}

/// The variables for a set of credentials, and what the user should know about them.
#[derive(Debug, Default)]
pub struct Plan {
    /// The variables, in the order of the credentials.
    pub vars: Vec<Var>,
    /// Warnings: names a shell cannot hold, names Poetry cannot tell apart.
    pub warnings: Vec<String>,
}

/// The part of a variable's name that stands for a source or repository named `name`, as Poetry
/// computes it (Python's `str.upper()`, then `-` as `_`).
pub fn key(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// True when a shell can export a variable named `name`.
pub fn shell_can_hold(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The variables for `credentials` (Poetry name, credential), first come first served: when two
/// different names share a variable, the first keeps it and a warning says so.
pub fn plan(credentials: Vec<(String, Credential)>) -> Plan {
    let mut out = Plan::default();
    let mut taken: Vec<(String, String, Credential)> = Vec::new();
    for (name, credential) in credentials {
        let prefix = credential.prefix(&name);
        if let Some((first, _, kept)) = taken.iter().find(|(_, p, _)| *p == prefix) {
            if !kept.same_as(&credential) {
                out.warnings.push(format!(
                    "{first} and {name} both read {prefix}_*, which Poetry cannot tell apart: \
                     credd set it for {first} only; rename one of them"
                ));
            }
            continue;
        }
        if !shell_can_hold(&prefix) {
            out.warnings.push(format!(
                "Poetry reads {name}'s credentials from {prefix}_*, a name no shell can hold: \
                 credd passes it straight to the command, but a shell run in between drops it; \
                 a name without dots avoids that"
            ));
        }
        match &credential {
            Credential::HttpBasic { username, password } => {
                if let Some(username) = username {
                    out.vars.push(Var {
                        name: format!("{prefix}_USERNAME"),
                        value: Secret::new(username),
                    });
                }
                out.vars.push(Var {
                    name: format!("{prefix}_PASSWORD"),
                    value: password.clone(),
                });
            }
            Credential::Token(token) => out.vars.push(Var {
                name: prefix.clone(),
                value: token.clone(),
            }),
        }
        taken.push((name, prefix, credential));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Credential {
        Credential::HttpBasic {
            username: Some(user.into()),
            password: Secret::new(password),
        }
    }

    fn names(plan: &Plan) -> Vec<&str> {
        plan.vars.iter().map(|v| v.name.as_str()).collect()
    }

    #[test]
    fn names_follow_poetry() {
        assert_eq!(key("my-repo"), "MY_REPO");
        assert_eq!(key("My_Repo"), "MY_REPO");
        assert_eq!(key("my.repo"), "MY.REPO");
        assert_eq!(key("straße"), "STRASSE");
        assert!(shell_can_hold("POETRY_HTTP_BASIC_MY_REPO"));
        assert!(!shell_can_hold("POETRY_HTTP_BASIC_MY.REPO"));
        assert!(!shell_can_hold("1X"));
    }

    #[test]
    fn basic_auth_token_and_no_username() {
        let plan = plan(vec![
            ("corp".into(), basic("alice", "pw")),
            ("corp-upload".into(), Credential::Token(Secret::new("tok"))),
            (
                "bare".into(),
                Credential::HttpBasic {
                    username: None,
                    password: Secret::new("x"),
                },
            ),
        ]);
        assert_eq!(
            names(&plan),
            [
                "POETRY_HTTP_BASIC_CORP_USERNAME",
                "POETRY_HTTP_BASIC_CORP_PASSWORD",
                "POETRY_PYPI_TOKEN_CORP_UPLOAD",
                "POETRY_HTTP_BASIC_BARE_PASSWORD",
            ]
        );
        assert_eq!(plan.vars[0].value.expose(), "alice");
        assert_eq!(plan.vars[2].value.expose(), "tok");
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn collisions_and_dots_are_warned_about() {
        let plan = plan(vec![
            ("my-repo".into(), basic("a", "1")),
            ("my_repo".into(), basic("b", "2")),
            ("MY-REPO".into(), basic("a", "1")),
            ("my.repo".into(), basic("c", "3")),
        ]);
        assert_eq!(
            names(&plan),
            [
                "POETRY_HTTP_BASIC_MY_REPO_USERNAME",
                "POETRY_HTTP_BASIC_MY_REPO_PASSWORD",
                "POETRY_HTTP_BASIC_MY.REPO_USERNAME",
                "POETRY_HTTP_BASIC_MY.REPO_PASSWORD",
            ]
        );
        assert_eq!(plan.vars[1].value.expose(), "1");
        assert_eq!(plan.warnings.len(), 2, "{:?}", plan.warnings);
        assert!(plan.warnings[0].starts_with("my-repo and my_repo both read"));
        assert!(plan.warnings[1].contains("no shell can hold"));
        assert!(
            plan.warnings
                .iter()
                .all(|w| !w.contains('1') && !w.contains('3'))
        );
    }
}
