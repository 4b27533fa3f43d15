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
        plugin,
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
        plugin: *plugin,
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
            print_report(&report, &config_file, public_url);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What setup changed, and what is left to do.
fn print_report(report: &setup::Report, config_file: &std::path::Path, public_url: &str) {
    let verb = |created| if created { "created" } else { "updated" };
    match report.webhook {
        setup::WebhookChange::Created | setup::WebhookChange::Updated => println!(
            "Strapi webhook `{}` {} -> {}",
            setup::NAME,
            verb(report.webhook == setup::WebhookChange::Created),
            report.webhook_url
        ),
        setup::WebhookChange::Deleted => println!(
            "Strapi webhook `{}` deleted (the plugin sends content events; both would send each change twice)",
            setup::NAME
        ),
        setup::WebhookChange::Absent => {}
    }
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
    let written = match report.webhook {
        setup::WebhookChange::Created | setup::WebhookChange::Updated => {
            "strapi.url, webhook_secret, api_token, admin_email and admin_password"
        }
        _ => "strapi.url, api_token, admin_email and admin_password",
    };
    println!("wrote {written} to {}", config_file.display());
    if let Some((_, made)) = &report.plugin_key {
        if *made {
            println!(
                "wrote a new API key for the plugin to api.keys in {}",
                config_file.display()
            );
        }
        println!("in the Strapi project, install iohost's plugin and enable it:");
        println!("  npm install <iohost>/strapi-plugin");
        println!(
            "  config/plugins.js: io: {{ enabled: true, config: {{ url: env('IOHOST_URL'), apiKey: env('IOHOST_API_KEY') }} }}"
        );
        // The key itself is not printed: terminals and CI logs keep what they show.
        println!(
            "  with IOHOST_URL={public_url} and IOHOST_API_KEY set to the first of api.keys in {} in Strapi's environment",
            config_file.display()
        );
    }
    println!(
        "still to do: set strapi.jwt_secret to Strapi's JWT_SECRET (IOHOST_STRAPI__JWT_SECRET), then restart iohost"
    );
}
