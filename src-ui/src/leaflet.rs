//! The few parts of Leaflet (bundled from npm as `vendor/leaflet/leaflet.js`, the global `L`, loaded by `load`
//! when a map is first shown) the delivery map uses, typed. Positions cross as `[lat, lng]` arrays and options
//! as plain objects, as Leaflet takes them.

use js_sys::Array;
use order_protocol::LatLng;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

#[wasm_bindgen]
extern "C" {
    #[derive(Clone)]
    pub(crate) type Map;
    #[wasm_bindgen(js_namespace = L, js_name = map)]
    fn new_map(el: &HtmlElement, options: &JsValue) -> Map;
    #[wasm_bindgen(method, js_name = fitBounds)]
    fn fit_bounds(this: &Map, bounds: &Array, options: &JsValue) -> Map;
    #[wasm_bindgen(method, js_name = getBounds)]
    fn get_bounds(this: &Map) -> Bounds;
    #[wasm_bindgen(method)]
    fn remove(this: &Map) -> Map;
    #[wasm_bindgen(method, js_name = on)]
    fn on_map(this: &Map, event: &str, f: &Closure<dyn FnMut(JsValue)>) -> Map;
    #[wasm_bindgen(method, getter, js_name = attributionControl)]
    fn attribution_control(this: &Map) -> Attribution;

    type Attribution;
    #[wasm_bindgen(method, js_name = setPrefix)]
    fn set_prefix(this: &Attribution, prefix: bool) -> Attribution;

    type Bounds;
    #[wasm_bindgen(method)]
    fn pad(this: &Bounds, ratio: f64) -> Bounds;
    #[wasm_bindgen(method)]
    fn contains(this: &Bounds, latlng: &Array) -> bool;

    pub(crate) type TileLayer;
    #[wasm_bindgen(js_namespace = L, js_name = tileLayer)]
    fn new_tile_layer(template: &str, options: &JsValue) -> TileLayer;
    #[wasm_bindgen(method, js_name = addTo)]
    fn add_layer_to(this: &TileLayer, map: &Map) -> TileLayer;
    #[wasm_bindgen(method, js_name = on)]
    fn on_tile(this: &TileLayer, event: &str, f: &Closure<dyn FnMut(JsValue)>) -> TileLayer;

    #[derive(Clone)]
    pub(crate) type Marker;
    #[wasm_bindgen(js_namespace = L, js_name = marker)]
    fn new_marker(at: &Array, options: &JsValue) -> Marker;
    #[wasm_bindgen(method, js_name = addTo)]
    fn add_marker_to(this: &Marker, map: &Map) -> Marker;
    #[wasm_bindgen(method, js_name = setLatLng)]
    fn set_lat_lng(this: &Marker, at: &Array) -> Marker;

    #[wasm_bindgen(js_namespace = L, js_name = divIcon)]
    fn div_icon(options: &JsValue) -> JsValue;
}

fn point(p: LatLng) -> Array {
    Array::of2(&p.lat.into(), &p.lng.into())
}

fn options(o: &impl Serialize) -> JsValue {
    o.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::UNDEFINED)
}

/// Whether Leaflet's script has run.
fn available() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"L".into()).is_ok_and(|l| l.is_object())
}

/// Loads Leaflet's stylesheet and script (both served by the app) the first time a map is shown, and says
/// whether it is ready. Pages without a map, such as the dashboard a cold start opens, never load or parse it.
/// A failure (a packaging fault) leaves nothing behind, so a later map tries again.
pub(crate) async fn load() -> bool {
    if available() {
        return true;
    }
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return false };
    let Some(head) = doc.head() else { return false };
    let mut waits = Vec::new();
    for (id, tag, attr, url) in [
        ("leaflet-css", "link", "href", "vendor/leaflet/leaflet.css"),
        ("leaflet-js", "script", "src", "vendor/leaflet/leaflet.js"),
    ] {
        let el = match doc.get_element_by_id(id) {
            Some(el) => el,
            None => {
                let Ok(el) = doc.create_element(tag) else { return false };
                el.set_id(id);
                if tag == "link" {
                    let _ = el.set_attribute("rel", "stylesheet");
                }
                let _ = el.set_attribute(attr, url);
                if head.append_child(&el).is_err() {
                    return false;
                }
                el
            }
        };
        // A stylesheet already applied fires no `load` again: only wait for one still coming.
        if tag == "link" && js_sys::Reflect::get(&el, &"sheet".into()).is_ok_and(|s| s.is_object()) {
            continue;
        }
        let target = el.clone();
        waits.push(wasm_bindgen_futures::JsFuture::from(js_sys::Promise::new(&mut |resolve, reject| {
            let _ = target.add_event_listener_with_callback("load", &resolve);
            let _ = target.add_event_listener_with_callback("error", &reject);
        })));
    }
    let mut ok = true;
    for wait in waits {
        ok &= wait.await.is_ok();
    }
    if !(ok && available()) {
        for id in ["leaflet-css", "leaflet-js"] {
            if let Some(el) = doc.get_element_by_id(id) {
                el.remove();
            }
        }
        return false;
    }
    true
}

impl Map {
    /// A map in `el` that never takes the page's scrolling: no wheel zoom, and on touch screens no one-finger
    /// dragging (the page scrolls under the finger as usual); the zoom buttons stay.
    pub(crate) fn create(el: &HtmlElement, touch: bool) -> Map {
        let map = new_map(
            el,
            &options(&serde_json::json!({
                "scrollWheelZoom": false,
                "dragging": !touch,
                "touchZoom": true,
                "tapHold": false,
                "zoomSnap": 0.5,
            })),
        );
        // Leaflet's own link in the corner; the tile provider's attribution stays.
        map.attribution_control().set_prefix(false);
        map
    }

    /// Shows every position with a margin, close enough to see the streets.
    pub(crate) fn fit(&self, points: &[LatLng]) {
        let bounds: Array = points.iter().map(|p| JsValue::from(point(*p))).collect();
        self.fit_bounds(&bounds, &options(&serde_json::json!({ "padding": [36, 36], "maxZoom": 16 })));
    }

    /// Whether `p` is well inside the view (not in its outer tenth).
    pub(crate) fn shows(&self, p: LatLng) -> bool {
        self.get_bounds().pad(-0.1).contains(&point(p))
    }

    /// Calls `f` whenever the map's box changes size (a window resized, a phone turned).
    pub(crate) fn on_resize(&self, f: &Closure<dyn FnMut(JsValue)>) {
        self.on_map("resize", f);
    }

    pub(crate) fn discard(&self) {
        self.remove();
    }
}

impl TileLayer {
    /// Raster tiles from `template`, with the provider's `attribution` (plain text: it is escaped). Tiles go
    /// without a referrer, so the tile server learns the tile coordinates and nothing else of the page.
    pub(crate) fn create(template: &str, attribution: &str, map: &Map) -> TileLayer {
        let layer = new_tile_layer(
            template,
            &options(&serde_json::json!({
                "attribution": escape(attribution),
                "maxZoom": 19,
                "referrerPolicy": "no-referrer",
            })),
        );
        layer.add_layer_to(map)
    }

    /// Calls `f` for each tile that loaded (`true`) or failed (`false`).
    pub(crate) fn on_tiles(&self, loaded: &Closure<dyn FnMut(JsValue)>, failed: &Closure<dyn FnMut(JsValue)>) {
        self.on_tile("tileload", loaded);
        self.on_tile("tileerror", failed);
    }
}

impl Marker {
    /// A marker drawn by CSS (`class`), labelled for screen readers and hover by `title`.
    pub(crate) fn create(at: LatLng, class: &str, title: &str, map: &Map) -> Marker {
        let icon = div_icon(&options(&serde_json::json!({
            "className": format!("map-marker {class}"),
            "iconSize": [28, 28],
            "iconAnchor": [14, 14],
            "html": "",
        })));
        let o = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&o, &"icon".into(), &icon);
        let _ = js_sys::Reflect::set(&o, &"title".into(), &title.into());
        let _ = js_sys::Reflect::set(&o, &"alt".into(), &title.into());
        let _ = js_sys::Reflect::set(&o, &"keyboard".into(), &false.into());
        new_marker(&point(at), &o).add_marker_to(map)
    }

    pub(crate) fn move_to(&self, at: LatLng) {
        self.set_lat_lng(&point(at));
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
