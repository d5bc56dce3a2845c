//! `orders`: the walkthrough as commands. See `orders --help`.

#[cfg(target_family = "wasm")]
fn main() {}

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_family = "wasm"))]
mod cli {

    use std::process::ExitCode;
    use std::time::Duration;

    use clap::{Parser, Subcommand};
    use order_cli::{post, Client};

    #[derive(Parser)]
    #[command(name = "orders", about = "Post coffee orders and read them back, against any deployment")]
    struct Cli {
        /// Base URL of the app.
        #[arg(long, env = "ORDERS_URL", default_value = "http://127.0.0.1:3000", global = true)]
        url: String,
        /// Seconds to wait for each answer.
        #[arg(long, default_value_t = 30, global = true)]
        timeout: u64,
        /// An API key for reads (one of the app's `read_api_keys`: `scripts/run` keeps
        /// one in .env as SPIN_VARIABLE_READ_API_KEYS=name:key; give the key part).
        #[arg(long, env = "ORDERS_API_KEY", global = true, hide_env_values = true)]
        api_key: Option<String>,
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Post N random orders like the notebook's, and summarise.
        Post {
            /// How many orders.
            #[arg(short = 'n', long, default_value_t = 10_000)]
            count: usize,
            /// Requests in flight at once.
            #[arg(short, long, default_value_t = 32)]
            concurrency: usize,
            /// Id prefix for this run (ids are <prefix>a<i>, <prefix>v<i>); random by default.
            #[arg(long)]
            prefix: Option<String>,
            /// Then wait until every order and invoice is readable; exit 1 if any is missing.
            #[arg(long)]
            verify: bool,
            /// Seconds `--verify` waits at most.
            #[arg(long, default_value_t = 300)]
            deadline: u64,
        },
        /// Show one order, pretty-printed.
        GetOrder {
            #[arg(long)]
            accountid: String,
            #[arg(long)]
            vendorid: String,
        },
        /// Follow one order through the components, from their logs (by trace id, or ids).
        Trace {
            /// The directory Spin writes component logs to.
            #[arg(long, default_value = ".spin/logs")]
            logs: std::path::PathBuf,
            #[arg(long)]
            trace_id: Option<String>,
            #[arg(long)]
            accountid: Option<String>,
            #[arg(long)]
            vendorid: Option<String>,
        },
        /// Show a signed URL for an invoice (the account's newest without --vendorid).
        GetInvoice {
            #[arg(long)]
            accountid: String,
            #[arg(long)]
            vendorid: Option<String>,
            /// Download the invoice through the URL and show it.
            #[arg(long)]
            download: bool,
        },
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        let client = Client::new(&cli.url, Duration::from_secs(cli.timeout)).with_api_key(cli.api_key.clone());
        let result = match cli.command {
            Command::Post { count, concurrency, prefix, verify, deadline } => {
                let opts = post::Options {
                    path: "/order".into(),
                    count,
                    concurrency,
                    prefix: prefix.unwrap_or_else(post::random_prefix),
                    verify,
                    deadline: Duration::from_secs(deadline),
                    progress: true,
                };
                print!("{}", post::starting(&client.base, count, &opts.prefix));
                let report = post::run(&client, &opts);
                print!("{report}");
                return if report.complete() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
            }
            Command::Trace { logs, trace_id, accountid, vendorid } => {
                if trace_id.is_none() && accountid.is_none() {
                    eprintln!("error: give --trace-id, or --accountid (and --vendorid)");
                    return ExitCode::from(2);
                }
                let filter = order_cli::trace::Filter { trace_id, accountid, vendorid };
                return match order_cli::trace::read(&logs, &filter) {
                    Ok(lines) => {
                        print!("{}", order_cli::trace::render(&lines));
                        if lines.is_empty() {
                            ExitCode::FAILURE
                        } else {
                            ExitCode::SUCCESS
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        ExitCode::FAILURE
                    }
                };
            }
            Command::GetOrder { accountid, vendorid } => order_cli::get_order(&client, &accountid, &vendorid),
            Command::GetInvoice { accountid, vendorid, download } => {
                order_cli::get_invoice(&client, &accountid, vendorid.as_deref()).and_then(|issued| {
                    if !download {
                        return Ok(issued);
                    }
                    let url = issued["url"].as_str().unwrap_or_default().to_owned();
                    order_cli::download(&client, &url)
                })
            }
        };
        match result {
            Ok(json) => {
                println!("{}", order_cli::pretty(&json));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
