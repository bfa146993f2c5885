//! The console in headless Chromium (issue 19's browser tests): a relay in
//! process with real fuin devices, the moderation service on it, and a
//! browser driven over WebDriver through the pages a moderator uses.
//!
//! The scenarios run one at a time (Chromium is heavy; [`BROWSER_TURN`]),
//! each in one browser session. Without chromedriver and chromium they
//! are skipped with a note, except under `CI`, where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "browser/driver.rs"]
mod driver;
#[path = "browser/other_origin.rs"]
mod other_origin;

use driver::Browser;
use other_origin::OtherOrigin;

/// One browser at a time across this binary's tests.
static BROWSER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webdriver_client_drives_a_page() {
    let Some(installed) = driver::installed() else {
        return;
    };
    let _turn = BROWSER_TURN.lock().await;
    let site = OtherOrigin::serve(
        "<!doctype html><title>t</title><p id=a class='x y'>hi &lt;b&gt;</p>\
         <input id=i><button id=b onclick=\"document.getElementById('a').className='z'\">b</button>"
            .to_owned(),
    )
    .await;
    let browser = Browser::start(&installed).await;
    browser.goto(&site.url).await;
    assert_eq!(browser.title().await, "t");
    let a = browser.find("#a").await;
    assert_eq!(a.text().await, "hi <b>");
    assert_eq!(a.classes().await, ["x", "y"]);
    browser.find("#i").await.send_keys("typed").await;
    assert_eq!(
        browser.find("#i").await.property("value").await.as_deref(),
        Some("typed")
    );
    browser.find("#b").await.click().await;
    assert_eq!(browser.find("#a").await.classes().await, ["z"]);
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    browser.quit().await;
}
