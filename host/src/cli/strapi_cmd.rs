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
        strapi_dir,
        jwt_secret,
        rotate_token,
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
        jwt_secret: jwt_secret.as_deref(),
        strapi_dir: strapi_dir.as_deref(),
        rotate_token: *rotate_token,
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
    let token = match report.token {
        setup::Change::Created => "created",
        setup::Change::Renewed => "regenerated (its old key no longer works)",
        setup::Change::Kept => {
            "kept (the key in the config file still works; --rotate-token makes a new one)"
        }
    };
    println!("Strapi API token `{}` {token}", setup::NAME);
    let reader = match report.reader {
        setup::Change::Created => "created",
        setup::Change::Renewed => "updated, with a new password",
        setup::Change::Kept => "kept (its password in the config file still works)",
    };
    println!(
        "Strapi admin user `{}` (role `{}`: may only read API tokens and role permissions) {reader}",
        setup::READER_EMAIL,
        setup::READER_ROLE,
    );
    let list = |changed: bool| {
        report
            .written
            .iter()
            .filter(|(_, c)| *c == changed)
            .map(|(key, _)| format!("strapi.{key}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (changed, unchanged) = (list(true), list(false));
    match changed.is_empty() {
        true => println!("{}: nothing changed", config_file.display()),
        false => println!("{}: set {changed}", config_file.display()),
    }
    if !unchanged.is_empty() {
        println!("{}: unchanged {unchanged}", config_file.display());
    }
    if let Some(from) = &report.jwt_secret_from {
        println!("strapi.jwt_secret from {from}");
    }
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
    if report.jwt_secret_from.is_none() && !report.has_jwt_secret {
        println!(
            "still to do: strapi.jwt_secret (Strapi's JWT_SECRET): run again with --strapi-dir <Strapi project> or JWT_SECRET=..., or set IOHOST_STRAPI__JWT_SECRET"
        );
    }
    if report.written.iter().any(|(_, changed)| *changed) {
        println!(
            "an iohost running with {} applies the [strapi] keys at once (no restart)",
            config_file.display()
        );
    }
    if report.plugin_key.as_ref().is_some_and(|(_, made)| *made) {
        println!("restart a running iohost for the new api.keys");
    }
}
