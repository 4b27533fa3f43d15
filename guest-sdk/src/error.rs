//! What can go wrong inside a handler call, so that `?` works in
//! [`Handler::handle_event`](crate::Handler::handle_event): KV, arguments, Strapi, or a reason of
//! the handler's own. An error becomes a rejection whose reason the client reads.

use crate::args::ArgError;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The KV store refused or could not be reached.
    Kv(crate::kv::Error),
    /// The client's arguments are missing or not of the expected shape.
    Arg(ArgError),
    /// Strapi refused or could not be reached.
    Strapi(crate::strapi::Error),
    /// A reason of the handler's own.
    Refused(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kv(crate::kv::Error::NotANumber) => write!(f, "kv: the value is not a number"),
            Self::Kv(crate::kv::Error::Unavailable(why)) => write!(f, "kv: {why}"),
            Self::Arg(e) => write!(f, "{e}"),
            Self::Strapi(e) => write!(f, "strapi: {e:?}"),
            Self::Refused(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::kv::Error> for Error {
    fn from(e: crate::kv::Error) -> Self {
        Self::Kv(e)
    }
}

impl From<ArgError> for Error {
    fn from(e: ArgError) -> Self {
        Self::Arg(e)
    }
}

impl From<crate::strapi::Error> for Error {
    fn from(e: crate::strapi::Error) -> Self {
        Self::Strapi(e)
    }
}

impl From<String> for Error {
    fn from(why: String) -> Self {
        Self::Refused(why)
    }
}

impl From<&str> for Error {
    fn from(why: &str) -> Self {
        Self::Refused(why.to_owned())
    }
}

impl From<Error> for crate::Outcome {
    fn from(e: Error) -> Self {
        crate::Outcome::reject(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_reasons() {
        let e: Error = crate::kv::Error::Unavailable("over quota".into()).into();
        assert_eq!(e.to_string(), "kv: over quota");
        let e: Error = ArgError::Missing(0).into();
        assert_eq!(e.to_string(), "argument 0 is missing");
        assert_eq!(Error::from("no").to_string(), "no");
    }
}
