//! Which rooms a client may join or leave on its own (`join-room` / `leave-room`).
//!
//! Rooms iohost manages are never joinable by clients: everything under `io-` (role and token
//! rooms) and another user's private room `user-<id>`. Everything else follows `[rooms]` config.

use std::collections::HashMap;

use globset::GlobSet;

use crate::config::globs;
use regex::Regex;

use crate::config::{ConfigError, RoomsConfig};
use crate::model::Identity;

/// Rooms under this prefix belong to iohost.
pub const RESERVED_PREFIX: &str = "io-";
/// `io-role-<role>`: every socket of a role.
pub const ROLE_ROOM_PREFIX: &str = "io-role-";
/// `io-token-<name>`: every socket of one API token.
pub const TOKEN_ROOM_PREFIX: &str = "io-token-";
/// `user-<id>`: the private room of one user's sockets (the name the plugin's guide uses).
pub const USER_ROOM_PREFIX: &str = "user-";

/// The room every socket of `role` is in: `io-role-<role>`, or `io-token-<name>` for tokens.
pub fn role_room(role: &str) -> String {
    match role.strip_prefix(crate::model::TOKEN_ROLE_PREFIX) {
        Some(name) => format!("{TOKEN_ROOM_PREFIX}{name}"),
        None => format!("{ROLE_ROOM_PREFIX}{role}"),
    }
}

/// Why a room request was refused; the `Display` text is what the client reads in `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomDenied {
    #[error("room name must be a non-empty string")]
    NotAString,
    #[error("room name is longer than {max} characters")]
    TooLong { max: usize },
    #[error("room name `{room}` does not match {pattern}")]
    BadName { room: String, pattern: String },
    #[error("room `{room}` is managed by iohost and cannot be joined or left by clients")]
    Reserved { room: String },
    #[error("room `{room}` is another user's private room")]
    OtherUsersRoom { room: String },
    #[error("role `{role}` may not join room `{room}`")]
    NotAllowed { role: String, room: String },
    #[error("this socket is already in {max} rooms, the most allowed")]
    TooMany { max: usize },
}

/// The compiled `[rooms]` configuration.
#[derive(Debug)]
pub struct RoomPolicy {
    name: Regex,
    max_name_length: usize,
    max_per_socket: usize,
    allow: GlobSet,
    roles: HashMap<String, GlobSet>,
}

impl RoomPolicy {
    pub fn new(config: &RoomsConfig) -> Result<Self, ConfigError> {
        let name = Regex::new(&config.name_pattern).map_err(|e| ConfigError::Invalid {
            key: "rooms.name_pattern".into(),
            reason: e.to_string(),
        })?;
        let roles = config
            .roles
            .iter()
            .map(|(role, rooms)| {
                Ok((
                    role.clone(),
                    globs(&format!("rooms.roles.{role}.allow"), &rooms.allow)?,
                ))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self {
            name,
            max_name_length: config.max_name_length,
            max_per_socket: config.max_per_socket,
            allow: globs("rooms.allow", &config.allow)?,
            roles,
        })
    }

    /// Checks that `room` is a name a client may use at all.
    pub fn check_name<'a>(&self, room: Option<&'a str>) -> Result<&'a str, RoomDenied> {
        let room = room
            .filter(|r| !r.is_empty())
            .ok_or(RoomDenied::NotAString)?;
        if room.chars().count() > self.max_name_length {
            return Err(RoomDenied::TooLong {
                max: self.max_name_length,
            });
        }
        if !self.name.is_match(room) {
            return Err(RoomDenied::BadName {
                room: room.to_owned(),
                pattern: self.name.as_str().to_owned(),
            });
        }
        if room.starts_with(RESERVED_PREFIX) {
            return Err(RoomDenied::Reserved {
                room: room.to_owned(),
            });
        }
        Ok(room)
    }

    /// May `who`, already in `joined` client-chosen rooms, join `room`?
    pub fn check_join(&self, room: &str, who: &Identity, joined: usize) -> Result<(), RoomDenied> {
        if let Some(owner) = room.strip_prefix(USER_ROOM_PREFIX) {
            let own = who.user.as_ref().is_some_and(|u| u.id.to_string() == owner);
            if !own {
                return Err(RoomDenied::OtherUsersRoom {
                    room: room.to_owned(),
                });
            }
        }
        let allow = self.roles.get(&who.role).unwrap_or(&self.allow);
        if !allow.is_match(room) {
            return Err(RoomDenied::NotAllowed {
                role: who.role.clone(),
                room: room.to_owned(),
            });
        }
        if joined >= self.max_per_socket {
            return Err(RoomDenied::TooMany {
                max: self.max_per_socket,
            });
        }
        Ok(())
    }

    /// Is `room` one the client chose (and so counts against `max_per_socket`)?
    pub fn is_client_room(room: &str, who: &Identity) -> bool {
        let own_user_room = who.user.as_ref().is_some_and(|u| {
            room.strip_prefix(USER_ROOM_PREFIX) == Some(u.id.to_string().as_str())
        });
        !room.starts_with(RESERVED_PREFIX) && !own_user_room
    }
}

/// Is `room` one of iohost's own, where a handler may not put sockets, take them out or emit
/// without the operator's grant (`[handlers.reserved_rooms]`)? Everything under `io-` (role,
/// token and entity-delivery rooms), the followers' rooms of documents (`<uid>:<documentId>`),
/// and every `user-<id>` room but `owner`'s (the user the action is for).
pub fn reserved_for(room: &str, owner: Option<u64>) -> bool {
    room.starts_with(RESERVED_PREFIX)
        || room.contains("::")
        || room
            .strip_prefix(USER_ROOM_PREFIX)
            .is_some_and(|id| owner.is_none_or(|owner| owner.to_string() != id))
}

#[cfg(test)]
mod reserved_tests {
    use super::reserved_for;

    #[test]
    fn iohosts_rooms_are_reserved() {
        for room in [
            "io-role-admin",
            "io-token-x",
            "io-entity-public-api::a.a:d",
            "api::article.article:d1",
            "user-7",
            "user-abc",
        ] {
            assert!(reserved_for(room, None), "{room}");
        }
        assert!(reserved_for("user-7", Some(8)), "another user's room");
        assert!(!reserved_for("user-7", Some(7)), "the user's own room");
        assert!(!reserved_for("chat-room-1", None));
        assert!(!reserved_for("users-lobby", None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoleRooms;
    use crate::model::User;

    fn policy(edit: impl FnOnce(&mut RoomsConfig)) -> RoomPolicy {
        let mut config = RoomsConfig::default();
        edit(&mut config);
        RoomPolicy::new(&config).expect("valid policy")
    }

    fn user(id: u64) -> Identity {
        Identity {
            role: "authenticated".into(),
            user: Some(User {
                id,
                username: format!("u{id}"),
            }),
        }
    }

    #[test]
    fn names_follow_the_plugin_rule() {
        let p = policy(|_| {});
        assert_eq!(p.check_name(Some("chat-room_1")), Ok("chat-room_1"));
        assert_eq!(p.check_name(None), Err(RoomDenied::NotAString));
        assert_eq!(p.check_name(Some("")), Err(RoomDenied::NotAString));
        assert!(matches!(
            p.check_name(Some("a b")),
            Err(RoomDenied::BadName { .. })
        ));
        assert!(matches!(
            p.check_name(Some(&"x".repeat(129))),
            Err(RoomDenied::TooLong { max: 128 })
        ));
        assert!(matches!(
            p.check_name(Some("io-role-admin")),
            Err(RoomDenied::Reserved { .. })
        ));
    }

    #[test]
    fn user_rooms_are_private() {
        let p = policy(|_| {});
        assert!(p.check_join("user-7", &user(7), 0).is_ok());
        assert!(matches!(
            p.check_join("user-7", &user(8), 0),
            Err(RoomDenied::OtherUsersRoom { .. })
        ));
        assert!(matches!(
            p.check_join("user-7", &Identity::public(), 0),
            Err(RoomDenied::OtherUsersRoom { .. })
        ));
        assert!(!RoomPolicy::is_client_room("user-7", &user(7)));
        assert!(RoomPolicy::is_client_room("user-7x", &user(7)));
    }

    #[test]
    fn role_overrides_replace_the_default_allow_list() {
        let p = policy(|c| {
            c.roles.insert(
                "public".into(),
                RoleRooms {
                    allow: vec!["lobby-*".into()],
                },
            );
        });
        assert!(p.check_join("lobby-1", &Identity::public(), 0).is_ok());
        assert!(matches!(
            p.check_join("vip", &Identity::public(), 0),
            Err(RoomDenied::NotAllowed { .. })
        ));
        assert!(p.check_join("vip", &user(1), 0).is_ok());
    }

    #[test]
    fn the_room_count_is_capped() {
        let p = policy(|c| c.max_per_socket = 2);
        assert!(p.check_join("a", &Identity::public(), 1).is_ok());
        assert_eq!(
            p.check_join("a", &Identity::public(), 2),
            Err(RoomDenied::TooMany { max: 2 })
        );
    }
}
