//! The one-time offer, after the first sign-in, to open the app at login hidden in the tray (off until the
//! customer says yes). Answered either way, it is not shown again; the switch stays in Settings.

use order_protocol::shell::{self, Settings};
use yew::prelude::*;

use crate::api;

#[function_component(OpenAtLoginOffer)]
pub(crate) fn open_at_login_offer() -> Html {
    // `Some(settings)` while the offer is to be shown.
    let offer = use_state(|| None::<Settings>);
    {
        let offer = offer.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let Ok(settings) = api::call::<shell::GetSettings>(&()).await else { return };
                // Where the system has no such thing (phones), or it is on already, there is nothing to offer.
                let off = matches!(api::call::<shell::GetOpenAtLogin>(&()).await, Ok(Some(false)));
                if !settings.open_at_login_asked && off {
                    offer.set(Some(settings));
                }
            });
        });
    }
    let Some(settings) = (*offer).clone() else { return html! {} };
    let answer = move |yes: bool| {
        let (offer, settings) = (offer.clone(), settings.clone());
        Callback::from(move |_| {
            let settings = Settings { open_at_login_asked: true, ..settings.clone() };
            offer.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                if yes {
                    let _ = api::call::<shell::SetOpenAtLogin>(&true).await;
                }
                let _ = api::call::<shell::SaveSettings>(&settings).await;
            });
        })
    };
    html! {
        <aside class="card offer" id="open-at-login-offer" aria-labelledby="open-at-login-title">
            <h2 id="open-at-login-title">{ "Open Live Orders when you log in?" }</h2>
            <p>{ "It starts quietly in the tray, so a store's update reaches you even when you have not opened the app. You can change this in Settings." }</p>
            <div class="actions">
                <button class="primary" id="open-at-login-yes" onclick={answer(true)}>{ "Yes, open at login" }</button>
                <button class="link-button" id="open-at-login-no" onclick={answer(false)}>{ "Not now" }</button>
            </div>
        </aside>
    }
}
