//! `order-server`: see `order_server::cli`.

fn main() -> std::process::ExitCode {
    order_server::cli::main()
}
