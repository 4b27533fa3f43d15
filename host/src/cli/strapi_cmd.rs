//! `iohost strapi setup`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::StrapiCommand;
use crate::config;
use crate::strapi::setup;

pub fn run(command: &StrapiCommand, config: Option<&std::path::Path>) -> ExitCode {
    let StrapiCommand::Setup {
        strapi_url,
        email,
        password,
        public_url,
        ca_file,
    } = command;
    let config_file = config.map_or_else(
        || PathBuf::from(config::DEFAULT_FILE),
        std::path::Path::to_path_buf,
    );
    let webhook_path = config::StrapiConfig::default().webhook_path;
    let options = setup::Options {
        strapi_url,
        email,
        password,
        public_url,
        webhook_path: &webhook_path,
        config_file: &config_file,
        ca_file: ca_file.as_deref(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(setup::run(&options)) {
        Ok(report) => {
            let verb = |created| if created { "created" } else { "updated" };
            println!(
                "Strapi webhook `{}` {} -> {}",
                setup::NAME,
                verb(report.webhook_created),
                report.webhook_url
            );
            println!(
                "Strapi API token `{}` {}",
                setup::NAME,
                verb(report.token_created)
            );
            println!(
                "Strapi admin user `{}` (role `{}`: may only read API tokens and role permissions) {}",
                setup::READER_EMAIL,
                setup::READER_ROLE,
                verb(report.reader_created)
            );
            println!(
                "wrote strapi.url, webhook_secret, api_token, admin_email and admin_password to {}",
                config_file.display()
            );
            println!(
                "still to do: set strapi.jwt_secret to Strapi's JWT_SECRET (IOHOST_STRAPI__JWT_SECRET), then restart iohost"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
