fn main() {
    live_orders_lib::run()
}
