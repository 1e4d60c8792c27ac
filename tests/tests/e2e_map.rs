//! The delivery on a map, end to end in the real webview, driven as a customer does: the customer points the
//! map at a tile server in Settings (a loopback one here, serving generated tiles and counting requests) and
//! the running app uses it at once; an order out for delivery shows the driver and the address where the
//! order-server says, with the distance and the position's age as text; the store moves the driver and the
//! marker glides after it; the ETA moving and then passing shows in words; an image from any other origin is
//! refused by the page's policy; the map fits a 360 px phone; and with the tile server gone the map says so and
//! keeps both markers on a plain background.
//!
//! Needs the private session `cargo xtask test` provides (Xvfb, D-Bus, an unlocked keyring).

use std::time::Duration;

use anyhow::Context;
use live_orders_tests::e2e::{docs_dir, AppSession};
use live_orders_tests::eventually;
use live_orders_tests::procs::{patch_delivery, rest_login, OrderServer, TempDir};
use live_orders_tests::tiles::TileServer;
use order_protocol::delivery;
use order_protocol::LatLng;
use serde_json::json;

const BOB: (&str, &str) = ("bob@example.com", "bob-pass");
const OWNER: (&str, &str) = ("owner@example.com", "owner-pass");

/// What the map itself holds: where Leaflet placed each marker, whether the view shows both, and what it drew.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct MapState {
    driver: [f64; 2],
    home: Option<[f64; 2]>,
    driver_in_view: bool,
    home_in_view: bool,
    tiles_loaded: usize,
    offline: bool,
    attribution: String,
}

const READ_MAP: &str = r#"
    const el = document.getElementById('delivery-map');
    if (!el || !el.liveOrdersMap) return null;
    const map = el.liveOrdersMap, b = map.getBounds();
    const d = el.liveOrdersDriver.getLatLng(), h = el.liveOrdersHome && el.liveOrdersHome.getLatLng();
    const attribution = el.querySelector('.leaflet-control-attribution');
    return {
        driver: [d.lat, d.lng], home: h ? [h.lat, h.lng] : null,
        driverInView: b.contains(d), homeInView: h ? b.contains(h) : false,
        tilesLoaded: el.querySelectorAll('.leaflet-tile-loaded').length,
        offline: el.classList.contains('map-offline'),
        attribution: attribution ? attribution.textContent : '',
    };
"#;

async fn map_state(app: &AppSession) -> anyhow::Result<MapState> {
    let v = app.client.execute(READ_MAP, vec![]).await?;
    serde_json::from_value(v).context("the map is not on the page")
}

fn near(a: [f64; 2], b: LatLng) -> bool {
    (a[0] - b.lat).abs() < 1e-7 && (a[1] - b.lng).abs() < 1e-7
}

/// Loads `url` as an image in the page: whether it loaded, and the origin the policy blocked, if any.
const LOAD_IMAGE: &str = r#"
    const [url, done] = [arguments[0], arguments[arguments.length - 1]];
    let blocked = null;
    document.addEventListener('securitypolicyviolation', e => { blocked = e.blockedURI; });
    const img = new Image();
    img.onload = () => done({ loaded: true, blocked });
    img.onerror = () => setTimeout(() => done({ loaded: false, blocked }), 300);
    img.src = url;
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_driver_shows_on_a_map_from_the_tile_server_in_settings_and_the_map_degrades_in_words() -> anyhow::Result<()>
{
    let data = TempDir::new("e2e-map");
    let server = OrderServer::start(data.path(), &[])?;
    let api = server.api_url();
    let tiles = TileServer::start().await?;
    let elsewhere = TileServer::start().await?;
    let http = reqwest::Client::new();
    let owner = rest_login(&http, &api, OWNER).await?;

    // Bob's order out for delivery, with its address's position; the driver a little north, due in 20 min.
    let orders: serde_json::Value = http.get(format!("{api}/orders")).bearer_auth(&owner).send().await?.json().await?;
    let order = orders
        .as_array()
        .and_then(|a| a.iter().find(|o| o["status"] == "out_for_delivery"))
        .context("the seed has an order out for delivery")?;
    let id = order["_id"].as_str().context("an id")?.to_owned();
    let home = LatLng {
        lat: order["deliveryAddress"]["lat"].as_f64().context("lat")?,
        lng: order["deliveryAddress"]["lng"].as_f64().context("lng")?,
    };
    let first = LatLng { lat: home.lat + 0.012, lng: home.lng - 0.006 };
    let eta = chrono::Utc::now() + chrono::Duration::minutes(20);
    patch_delivery(&http, &api, &owner, &id, json!({ "location": first, "estimatedDelivery": eta })).await?;

    let app = AppSession::launch(&[]).await?;
    app.log_in(&api, BOB.0, BOB.1).await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.click("#open-at-login-no").await?;

    // Settings: a source that would widen the policy is refused in words; the loopback one is taken at once.
    app.click("header nav a[href='#/settings']").await?;
    app.wait_for("#map-tiles").await?;
    app.fill("input[name='map-tiles']", "http://tiles.example.com/{z}/{x}/{y}.png").await?;
    app.fill("input[name='map-attribution']", "Example").await?;
    app.click("#save-map").await?;
    let problem = app.wait_for("#map-problem").await?.text().await?;
    assert!(problem.contains("only allowed from this machine"), "{problem}");
    app.fill("input[name='map-tiles']", &tiles.template()).await?;
    app.fill("input[name='map-attribution']", "Test tiles, Live Orders").await?;
    app.click("#save-map").await?;
    // The page reloads with the new policy; Settings then names the new source.
    let named = eventually(
        "Settings names the new tile server",
        || app.text_of("#map-source"),
        |t| t.contains(&tiles.origin()),
    )
    .await?;
    assert!(named.contains("Test tiles, Live Orders"), "{named}");

    // The order page: both markers where the order-server says, in view, over tiles from the loopback server.
    app.client.execute("window.location.hash = arguments[0];", vec![format!("/orders/{id}").into()]).await?;
    app.wait_for("#delivery-map .marker-driver").await?;
    let state = eventually("the map drew its tiles", || map_state(&app), |s| s.tiles_loaded > 0).await?;
    assert!(near(state.driver, first), "driver at {:?}, the server says {first:?}", state.driver);
    assert!(state.home.is_some_and(|h| near(h, home)), "home at {:?}, the server says {home:?}", state.home);
    assert!(state.driver_in_view && state.home_in_view, "the view fits both: {state:?}");
    assert!(!state.offline && state.attribution.contains("Test tiles, Live Orders"), "{state:?}");
    let asked = tiles.requests();
    assert!(!asked.is_empty(), "the tiles came from the server in Settings");
    for r in &asked {
        // Tile coordinates and nothing else: no address, no position, no page, no cookie.
        let parts: Vec<&str> = r.path.trim_start_matches('/').trim_end_matches(".svg").split('/').collect();
        assert!(parts.len() == 3 && parts.iter().all(|p| p.parse::<u64>().is_ok()), "{r:?}");
        assert!(r.query.is_none() && r.referer.is_none() && r.cookie.is_none(), "{r:?}");
    }
    let distance = delivery::distance_left(Some(first), Some(home)).expect("both positions");
    assert_eq!(app.text_of("#distance-left").await?, distance);
    assert_eq!(app.attr("#last-seen", "data-freshness").await?.as_deref(), Some("fresh"));
    assert!(app.text_of("#last-seen").await?.starts_with("Position updated"), "the position's age reads in words");
    let eta_text = app.text_of("#eta").await?;
    assert!(eta_text.contains("(in 20 min)") || eta_text.contains("(in 19 min)"), "{eta_text}");

    // The store moves the driver: the marker glides there through positions in between, never jumping.
    app.client
        .execute(
            "const m = document.getElementById('delivery-map').liveOrdersDriver; window.__moves = []; \
             m.on('move', e => window.__moves.push([e.latlng.lat, e.latlng.lng]));",
            vec![],
        )
        .await?;
    let second = LatLng { lat: home.lat + 0.004, lng: home.lng - 0.002 };
    patch_delivery(&http, &api, &owner, &id, json!({ "location": second })).await?;
    let state = eventually("the driver's marker followed", || map_state(&app), |s| near(s.driver, second)).await?;
    assert!(state.driver_in_view && state.home_in_view, "{state:?}");
    let moves: Vec<[f64; 2]> = serde_json::from_value(app.client.execute("return window.__moves;", vec![]).await?)?;
    let between = moves.iter().filter(|p| p[0] < first.lat - 1e-7 && p[0] > second.lat + 1e-7).count();
    assert!(between >= 3, "the marker glides through positions in between: {moves:?}");
    assert!(moves.windows(2).all(|w| w[1][0] <= w[0][0] + 1e-12), "always toward the new position: {moves:?}");
    let closer = delivery::distance_left(Some(second), Some(home)).expect("both positions");
    eventually("the distance follows", || app.text_of("#distance-left"), |t| *t == closer).await?;

    // As a customer sees it, on a desktop and on a phone: the map fits 360 px and takes no sideways scrolling.
    app.resize(1280, 860).await?;
    app.client.execute("document.getElementById('where-now').scrollIntoView({block: 'start'});", vec![]).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.screenshot("map-1280").await?;
    app.resize(360, 760).await?;
    let phone = eventually("the page laid out at 360 px", || app.layout(), |l| l.inner_width <= 360).await?;
    assert!(phone.scroll_width <= phone.inner_width, "no sideways scrolling at 360 px: {phone:?}");
    assert!(phone.small_targets.is_empty(), "controls smaller than 44 px: {:?}", phone.small_targets);
    let state =
        eventually("the narrower map still shows both", || map_state(&app), |s| s.driver_in_view && s.home_in_view)
            .await?;
    assert!(near(state.driver, second), "{state:?}");
    app.client.execute("document.getElementById('delivery-map').scrollIntoView({block: 'center'});", vec![]).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.screenshot("map-360").await?;
    app.resize(1100, 760).await?;

    // The ETA moves by 15 min: the timeline says so. Then it passes: "running late", never a negative count.
    let later = eta + chrono::Duration::minutes(15);
    patch_delivery(&http, &api, &owner, &id, json!({ "estimatedDelivery": later })).await?;
    let moved =
        eventually("the timeline tells the ETA moved", || app.text_of("#timeline li.eta-move"), |t| !t.is_empty())
            .await?;
    assert!(moved.starts_with("ETA moved to "), "{moved}");
    patch_delivery(
        &http,
        &api,
        &owner,
        &id,
        json!({ "estimatedDelivery": chrono::Utc::now() - chrono::Duration::minutes(5) }),
    )
    .await?;
    app.wait_for("#eta[data-eta='late']").await?;
    let late = app.text_of("#eta").await?;
    assert!(late.contains("running late") && !late.contains('-'), "{late}");

    // The policy: an image from the tile server in Settings loads, one from anywhere else is refused.
    let client = &app.client;
    let load = |url: String| async move {
        let v = client.execute_async(LOAD_IMAGE, vec![url.into()]).await?;
        anyhow::Ok((v["loaded"].as_bool().unwrap_or(false), v["blocked"].as_str().unwrap_or_default().to_owned()))
    };
    let (loaded, _) = load(format!("{}/3/2/1.svg", tiles.origin())).await?;
    assert!(loaded, "the tile server in Settings is allowed");
    let (loaded, blocked) = load(format!("{}/3/2/1.svg", elsewhere.origin())).await?;
    assert!(!loaded && blocked.starts_with(&elsewhere.origin()), "another origin is refused (blocked: {blocked:?})");
    assert!(elsewhere.requests().is_empty(), "nothing reached the other server: {:?}", elsewhere.requests());

    // The tile server goes away and the driver moves far off, out of the tiles drawn: the map says it cannot
    // load, shows both markers on a plain background, and the distance still reads in words.
    tiles.stop();
    let far = LatLng { lat: home.lat + 0.2, lng: home.lng + 0.25 };
    patch_delivery(&http, &api, &owner, &id, json!({ "location": far })).await?;
    app.wait_for("#map-fallback").await?;
    let state = eventually("the markers stay on the plain map", || map_state(&app), |s| near(s.driver, far)).await?;
    assert!(state.offline && state.driver_in_view && state.home_in_view, "{state:?}");
    let farther = delivery::distance_left(Some(far), Some(home)).expect("both positions");
    eventually("the distance reads without tiles", || app.text_of("#distance-left"), |t| *t == farther).await?;
    app.screenshot("map-offline").await?;
    println!("screenshots in target/e2e (map-1280, map-360, map-offline); {}", docs_dir().display());

    app.close().await?;
    Ok(())
}
