//! Accessibility, checked in the real webview: every text on the main screens meets WCAG AA contrast against
//! what is really behind it, and a customer with only a keyboard can reach the navigation, the bell and an
//! order, sees where the focus is, and opens the order with Enter.

use anyhow::{ensure, Context, Result};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use live_orders_tests::e2e::AppSession;
use live_orders_tests::procs::{OrderServer, TempDir};

/// For every visible element that holds text of its own: its text colour against the first opaque background
/// behind it (translucent ones blended on the way), and the WCAG contrast ratio. Large text (24 px, or 18.66 px
/// bold) needs 3:1, the rest 4.5:1; disabled controls are exempt, as WCAG says.
const CONTRAST_AUDIT: &str = r#"
const rgba = (s) => { const m = s.match(/[\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
function background(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) layers.push(c);
    if (c[3] >= 1) break;
  }
  let bg = [255, 255, 255, 1];
  for (const c of layers.reverse()) bg = over(c, bg);
  return bg;
}
const failures = []; let checked = 0;
for (const el of document.querySelectorAll('body *')) {
  const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent.trim()).join(' ').trim();
  if (!own || el.disabled) continue;
  const r = el.getBoundingClientRect(); const st = getComputedStyle(el);
  if (r.width === 0 || r.height === 0 || r.right < 0 || r.bottom < 0 || st.visibility === 'hidden') continue;
  let opacity = 1; for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
  const bg = background(el);
  const fgRaw = rgba(st.color); const fg = over([fgRaw[0], fgRaw[1], fgRaw[2], fgRaw[3] * opacity], bg);
  const [a, b] = [lum(fg), lum(bg)];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const px = parseFloat(st.fontSize); const bold = Number(st.fontWeight) >= 700;
  const need = (px >= 24 || (px >= 18.66 && bold)) ? 3 : 4.5;
  checked++;
  if (ratio < need) failures.push(`${own.slice(0, 40)} (${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}): ${ratio.toFixed(2)} < ${need}, ${st.color} on rgb(${bg.slice(0, 3).map(Math.round)})`);
}
return { checked, failures };
"#;

async fn audit(app: &AppSession, screen: &str) -> Result<usize> {
    let out = app.client.execute(CONTRAST_AUDIT, vec![]).await?;
    let checked = out["checked"].as_u64().context("the audit's count")? as usize;
    let failures: Vec<String> =
        out["failures"].as_array().context("the audit's failures")?.iter().map(|f| f.to_string()).collect();
    ensure!(failures.is_empty(), "{screen}: text below AA contrast:\n{}", failures.join("\n"));
    ensure!(checked >= 3, "{screen}: only {checked} texts found: the audit saw nothing");
    Ok(checked)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_text_on_the_main_screens_meets_aa_contrast() -> Result<()> {
    let data = TempDir::new("e2e-contrast");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&[]).await?;

    app.wait_for("input[name=email]").await?;
    let mut checked = audit(&app, "login").await?;
    app.log_in(&server.api_url(), "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    checked += audit(&app, "dashboard").await?;
    app.click("header nav a[href='#/orders']").await?;
    app.wait_for(".order-row[data-order-id]").await?;
    checked += audit(&app, "orders").await?;
    app.click(".order-row a").await?;
    app.wait_for(".order-page").await?;
    checked += audit(&app, "order").await?;
    app.click("#bell").await?;
    app.wait_for(".panel").await?;
    checked += audit(&app, "notification center").await?;
    app.click("header nav a[href='#/settings']").await?;
    app.wait_for("#main select, #main input").await?;
    checked += audit(&app, "settings").await?;
    eprintln!("contrast: {checked} texts checked on six screens, all at AA");
    app.close().await
}

/// Presses one key in the focused element, as a keyboard would.
async fn press(app: &AppSession, key: Key) -> Result<()> {
    let k: char = key.into();
    let keys = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: k }).then(KeyAction::Up { value: k });
    app.client.perform_actions(keys).await?;
    Ok(())
}

/// What has the focus: a short description, and whether a visible outline marks it.
const FOCUSED: &str = r#"
const e = document.activeElement; const st = getComputedStyle(e);
return { what: `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} ${(e.getAttribute('href') || '')} ${e.textContent.trim().slice(0, 30)}`,
         href: e.getAttribute('href') || '', id: e.id || '', inRow: !!e.closest('.order-row'),
         outlined: st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2 };
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_keyboard_alone_reaches_the_navigation_the_bell_and_an_order() -> Result<()> {
    let data = TempDir::new("e2e-keyboard");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&[]).await?;
    app.log_in(&server.api_url(), "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.wait_for(".order-row[data-order-id]").await?;
    // Start from a fresh page, as a new window would: the browser's focus navigation then begins at the top
    // (after the login form went away it would otherwise go on from where the submit button was).
    app.reload().await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.wait_for(".order-row[data-order-id]").await?;

    let mut seen = Vec::new();
    let mut order_link = None;
    for _ in 0..30 {
        press(&app, Key::Tab).await?;
        let f = app.client.execute(FOCUSED, vec![]).await?;
        let what = f["what"].as_str().unwrap_or_default().to_owned();
        ensure!(f["outlined"].as_bool() == Some(true), "the focus on `{what}` has no visible outline");
        seen.push(what);
        if f["inRow"].as_bool() == Some(true) {
            order_link = f["href"].as_str().map(str::to_owned);
            break;
        }
    }
    eprintln!("tab order: {}", seen.join(" → "));
    ensure!(seen.first().is_some_and(|s| s.contains("Skip to content")), "the skip link comes first: {seen:?}");
    for must in ["#/orders", "#/settings", "bell"] {
        ensure!(seen.iter().any(|s| s.contains(must)), "`{must}` is not reachable by Tab: {seen:?}");
    }
    let href = order_link.context("no order row reachable by Tab within 30 presses")?;
    press(&app, Key::Enter).await?;
    let id = href.rsplit('/').next().unwrap_or_default();
    app.wait_for(&format!(".order-page[data-order-id='{id}']")).await?;
    app.close().await
}
