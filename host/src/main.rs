//! The `iohost` binary: the command line is [`iohost::cli`].

fn main() -> std::process::ExitCode {
    iohost::cli::run()
}
