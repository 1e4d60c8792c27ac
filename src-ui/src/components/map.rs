//! The delivery on a map: the driver's marker and the delivery address's, the view fitted to both, the driver
//! gliding to each new position. Tiles come from the source in Settings; when none load (offline, or a provider
//! that refuses) the map says so and keeps both markers on a plain background. The facts it shows are also
//! text beside it (the order page's "On the way to you" card), for keyboards and screen readers.
//!
//! The map and its markers hang on the container element (`liveOrdersMap`, `liveOrdersDriver`,
//! `liveOrdersHome`): that is how the end-to-end test reads where Leaflet drew them.

use std::cell::RefCell;
use std::rc::Rc;

use gloo::timers::callback::{Interval, Timeout};
use order_protocol::tiles::TileSource;
use order_protocol::LatLng;
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;
use yew::prelude::*;

use crate::leaflet::{self, Map, Marker, TileLayer};

/// How long the driver's marker takes to glide to a new position, and its steps.
const GLIDE_MS: f64 = 700.0;
const FRAME_MS: u32 = 16;

#[derive(Properties, PartialEq)]
pub(crate) struct MapProps {
    pub(crate) driver: LatLng,
    pub(crate) home: Option<LatLng>,
    pub(crate) source: TileSource,
    /// What the map shows, in words (its accessible name).
    pub(crate) label: String,
}

/// A handler Leaflet calls with its event.
type Handler = Closure<dyn FnMut(JsValue)>;

/// A live map and what keeps it working; dropped with the map.
struct Live {
    map: Map,
    driver: Marker,
    home: Option<LatLng>,
    /// Where the driver's marker stands now (mid-glide: on its way).
    shown: Rc<RefCell<LatLng>>,
    glide: Option<Interval>,
    glide_end: Option<Timeout>,
    _tiles: TileLayer,
    _tile_events: (Handler, Handler),
    _resized: Handler,
}

#[function_component(DeliveryMap)]
pub(crate) fn delivery_map(p: &MapProps) -> Html {
    let node = use_node_ref();
    let live = use_mut_ref(|| None::<Live>);
    let offline = use_state_eq(|| false);
    // The driver's latest position, for a map that finishes loading after updates came.
    let latest = use_mut_ref(|| p.driver);
    *latest.borrow_mut() = p.driver;
    // Which map is wanted: a load that finishes after its map was replaced or removed builds nothing.
    let generation = use_mut_ref(|| 0u32);
    {
        let (node, live, offline, generation) = (node.clone(), live.clone(), offline.clone(), generation.clone());
        let (home, source) = (p.home, p.source.clone());
        use_effect_with(p.source.clone(), move |_| {
            let mine = *generation.borrow();
            let (cell, wanted) = (live.clone(), generation.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let ready = leaflet::load().await;
                if *wanted.borrow() != mine {
                    return;
                }
                match node.cast::<HtmlElement>() {
                    Some(el) if ready => {
                        let driver = *latest.borrow();
                        *cell.borrow_mut() = Some(start(&el, driver, home, &source, offline));
                    }
                    _ => offline.set(true),
                }
            });
            move || {
                *generation.borrow_mut() += 1;
                if let Some(l) = live.borrow_mut().take() {
                    l.map.discard();
                }
            }
        });
    }
    {
        let live_cell = live.clone();
        use_effect_with(p.driver, move |&to| {
            if let Some(l) = live_cell.borrow_mut().as_mut() {
                glide(l, to, live_cell.clone());
            }
        });
    }
    let class = classes!("delivery-map", offline.then_some("map-offline"));
    html! {
        <div class="map-wrap">
            <div ref={node} id="delivery-map" class={class} role="img" aria-label={p.label.clone()}
                 data-driver={format!("{:.5},{:.5}", p.driver.lat, p.driver.lng)}></div>
            if *offline {
                <p id="map-fallback" class="map-fallback" role="status">
                    { "The map can't be loaded right now, so the driver and your address are shown on a plain background." }
                </p>
            }
        </div>
    }
}

/// Builds the map in `el`: tiles, both markers, the view fitted to them.
fn start(
    el: &HtmlElement,
    driver: LatLng,
    home: Option<LatLng>,
    source: &TileSource,
    offline: UseStateHandle<bool>,
) -> Live {
    let touch = js_sys::Reflect::has(&js_sys::global(), &"ontouchstart".into()).unwrap_or(false);
    let map = Map::create(el, touch);
    let tiles = TileLayer::create(&source.template, &source.attribution, &map);
    let loaded = {
        let offline = offline.clone();
        Handler::new(move |_| offline.set(false))
    };
    let failed = Handler::new(move |_| offline.set(true));
    tiles.on_tiles(&loaded, &failed);
    let home_marker = home.map(|h| Marker::create(h, "marker-home", "Your address", &map));
    let driver_marker = Marker::create(driver, "marker-driver", "Driver", &map);
    map.fit(&[Some(driver), home].into_iter().flatten().collect::<Vec<_>>());
    let shown = Rc::new(RefCell::new(driver));
    // A new size (a window resized, a phone turned) keeps Leaflet's centre, which can leave a marker out of
    // view: fit both again.
    let resized = {
        let (map, shown) = (map.clone(), shown.clone());
        Handler::new(move |_| {
            let driver = *shown.borrow();
            if !(map.shows(driver) && home.is_none_or(|h| map.shows(h))) {
                map.fit(&[Some(driver), home].into_iter().flatten().collect::<Vec<_>>());
            }
        })
    };
    map.on_resize(&resized);
    let set = |name: &str, v: &JsValue| {
        let _ = js_sys::Reflect::set(el, &name.into(), v);
    };
    set("liveOrdersMap", &map);
    set("liveOrdersDriver", &driver_marker);
    set("liveOrdersHome", &home_marker.as_ref().map_or(JsValue::NULL, |m| JsValue::from(m.clone())));
    Live {
        map,
        driver: driver_marker,
        home,
        shown,
        glide: None,
        glide_end: None,
        _tiles: tiles,
        _tile_events: (loaded, failed),
        _resized: resized,
    }
}

/// Moves the driver's marker to `to` smoothly; a position outside the view first fits the view to it and the
/// address again.
fn glide(l: &mut Live, to: LatLng, cell: Rc<RefCell<Option<Live>>>) {
    let from = *l.shown.borrow();
    if from == to {
        return;
    }
    if !l.map.shows(to) {
        l.map.fit(&[Some(to), l.home].into_iter().flatten().collect::<Vec<_>>());
    }
    let (marker, shown) = (l.driver.clone(), l.shown.clone());
    let start = js_sys::Date::now();
    l.glide = Some(Interval::new(FRAME_MS, move || {
        let t = ((js_sys::Date::now() - start) / GLIDE_MS).clamp(0.0, 1.0);
        let e = 1.0 - (1.0 - t).powi(3);
        let at = LatLng { lat: from.lat + (to.lat - from.lat) * e, lng: from.lng + (to.lng - from.lng) * e };
        marker.move_to(at);
        *shown.borrow_mut() = at;
    }));
    // The frames stop once the marker arrived (an idle map costs nothing), set exactly where the data says.
    let (marker, shown) = (l.driver.clone(), l.shown.clone());
    l.glide_end = Some(Timeout::new(GLIDE_MS as u32 + FRAME_MS, move || {
        if let Some(l) = cell.borrow_mut().as_mut() {
            l.glide = None;
        }
        marker.move_to(to);
        *shown.borrow_mut() = to;
    }));
}
