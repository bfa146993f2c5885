//! Headless Chromium driven over W3C WebDriver: chromedriver started on a
//! free loopback port, one browser session in a throwaway profile, and the
//! few commands the console's tests need. Both processes end when the
//! [`Browser`] is dropped.
//!
//! The client is a small one of our own on reqwest (already in the
//! workspace) rather than a WebDriver crate: the tests need a dozen
//! commands, and this keeps the dependency tree (and its TLS stack) out of
//! the build.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// How long chromedriver and the browser get to start, and a page or an
/// element to appear.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The pause between two looks of a poll (not a wait for readiness: every
/// wait is [`poll`] until its condition holds).
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Tries `attempt` until it gives a value, for at most [`PATIENCE`];
/// `None` when the time ran out.
async fn poll<T, F, Fut>(mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = attempt().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The key W3C WebDriver names an element reference by.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver and the browser binary, when both are installed.
pub struct Installed {
    chromedriver: PathBuf,
    chromium: PathBuf,
}

/// Looks for chromedriver and chromium on `PATH`. Under `CI` both must be
/// there (`.ci/run` installs them): the test fails. Elsewhere the browser
/// tests are skipped with a note.
pub fn installed() -> Option<Installed> {
    let chromedriver = on_path("chromedriver");
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| on_path(name));
    match (chromedriver, chromium) {
        (Some(chromedriver), Some(chromium)) => Some(Installed {
            chromedriver,
            chromium,
        }),
        (driver, browser) => {
            let missing = match (driver, browser) {
                (None, None) => "chromedriver and chromium are",
                (None, Some(_)) => "chromedriver is",
                _ => "chromium is",
            };
            assert!(
                std::env::var_os("CI").is_none_or(|ci| ci.is_empty()),
                "CI is set but {missing} not installed: .ci/run installs Debian's \
                 chromium and chromium-driver"
            );
            // Straight to stderr, past the test harness's capture.
            let _ = writeln!(
                std::io::stderr(),
                "note: {missing} not installed: the console's browser tests are skipped \
                 (install Debian's chromium and chromium-driver, or run .ci/run)"
            );
            None
        }
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A running chromedriver with one headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port (it picks one, and says
    /// which), waits until it answers, and opens a session.
    pub async fn start(installed: &Installed) -> Self {
        let mut driver = Command::new(&installed.chromedriver)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            // Its own process group, with the browser it starts: dropping
            // the Browser ends the whole group.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let port = match announced_port(&mut driver) {
            Ok(port) => port,
            Err(why) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver did not start: {why}");
            }
        };
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let mut browser = Self {
            http,
            session: String::new(),
            driver,
            profile: tempfile::tempdir().unwrap(),
        };
        browser.wait_until_ready(&base).await;
        let profile = browser.profile.path().display().to_string();
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": installed.chromium.display().to_string(),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--window-size=1366,900",
                            format!("--user-data-dir={profile}"),
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-extensions",
                            "--disable-background-networking",
                            "--disable-sync",
                            "--disable-component-update",
                            "--password-store=basic",
                        ],
                    },
                    "timeouts": { "implicit": 0, "pageLoad": 60_000, "script": 30_000 },
                }
            }
        });
        let answer = browser
            .call(
                reqwest::Method::POST,
                &format!("{base}/session"),
                Some(capabilities),
            )
            .await
            .unwrap_or_else(|err| panic!("no browser session: {err}"));
        let id = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {answer}"));
        browser.session = format!("{base}/session/{id}");
        browser
    }

    async fn wait_until_ready(&self, base: &str) {
        let ready = poll(|| async {
            let status = self
                .call(reqwest::Method::GET, &format!("{base}/status"), None)
                .await
                .ok()?;
            (status["ready"].as_bool() == Some(true)).then_some(())
        })
        .await;
        assert!(ready.is_some(), "chromedriver never became ready");
    }

    /// One WebDriver command: its `value`, or the error WebDriver gave.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|err| err.to_string())?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|err| err.to_string())?;
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)))?;
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!(
                "{status} {}: {}",
                value["error"].as_str().unwrap_or("?"),
                value["message"].as_str().unwrap_or("?")
            ))
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        self.call(method, &url, body)
            .await
            .unwrap_or_else(|err| panic!("WebDriver {path}: {err}"))
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The page's URL now.
    pub async fn url(&self) -> String {
        let value = self.command(reqwest::Method::GET, "/url", None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Every element `css` selects now (none is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let value = self
            .command(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        value
            .as_array()
            .map(|found| {
                found
                    .iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str())
                    .map(|id| Element {
                        browser: self,
                        id: id.to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element `css` selects, waiting for it (a page loading
    /// after a form's submission) for at most [`PATIENCE`].
    pub async fn find(&self, css: &str) -> Element<'_> {
        match poll(|| async { self.find_all(css).await.into_iter().next() }).await {
            Some(element) => element,
            None => panic!(
                "no element {css} within {PATIENCE:?} on {}",
                self.describe().await
            ),
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page
    /// and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Waits until `script` returns `true` in the page, for at most
    /// [`PATIENCE`]; `what` names the wait in the failure.
    pub async fn wait_for(&self, what: &str, script: &str) {
        let held = poll(|| async {
            (self.execute(script, vec![]).await == Value::Bool(true)).then_some(())
        })
        .await;
        if held.is_none() {
            panic!(
                "timed out waiting for {what}; the page: {}",
                self.describe().await
            );
        }
    }

    /// Waits until the page's URL satisfies `check` (a form's POST and its
    /// redirect have been followed).
    pub async fn wait_for_url(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let url = poll(|| async {
            let url = self.url().await;
            (check(&url) && self.ready().await).then_some(url)
        })
        .await;
        match url {
            Some(url) => url,
            None => panic!("timed out waiting for {what} on {}", self.describe().await),
        }
    }

    /// Clicks `element` (a submit button, a link) and waits until another
    /// document has replaced the current one and finished loading, so that
    /// nothing is read from the page the click left.
    pub async fn click_to_load(&self, element: &Element<'_>, what: &str) {
        self.execute("window.__fuinLeft = true;", vec![]).await;
        element.click().await;
        self.wait_for(
            what,
            "return window.__fuinLeft !== true && document.readyState === 'complete';",
        )
        .await;
    }

    /// The page's URL and the start of its text, for a failure message.
    pub async fn describe(&self) -> String {
        let text = self
            .execute(
                "return document.body ? document.body.innerText.slice(0, 600) : '(no body)';",
                vec![],
            )
            .await;
        format!(
            "{} {:?}",
            self.url().await,
            text.as_str().unwrap_or_default()
        )
    }

    async fn ready(&self) -> bool {
        self.execute("return document.readyState === 'complete';", vec![])
            .await
            == Value::Bool(true)
    }

    /// Resizes the browser's window (the viewport follows).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let value = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .expect("a screenshot is base64")
    }

    /// The browser's cookies for the current page, as a `Cookie` header
    /// (HTTP-only ones included: WebDriver sees them, scripts do not), so
    /// that a test can fetch a page as the logged-in browser would.
    pub async fn cookies_header(&self) -> String {
        let value = self.command(reqwest::Method::GET, "/cookie", None).await;
        value
            .as_array()
            .map(|cookies| {
                cookies
                    .iter()
                    .filter_map(|c| {
                        Some(format!("{}={}", c["name"].as_str()?, c["value"].as_str()?))
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    /// Ends the session: the browser quits (its profile is then deleted
    /// with the temp dir).
    pub async fn quit(mut self) {
        let session = std::mem::take(&mut self.session);
        if !session.is_empty() {
            let _ = self.call(reqwest::Method::DELETE, &session, None).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed half-way did not quit: ask chromedriver to end
        // the session (blocking, briefly), then end the process group, so
        // no Chromium outlives the test either way.
        if let Some(rest) = self.session.strip_prefix("http://") {
            delete_session_blocking(rest);
        }
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/ID` over a plain socket, from `Drop` (no runtime
/// there). `target` is `127.0.0.1:PORT/session/ID`.
fn delete_session_blocking(target: &str) {
    use std::io::Read;
    let Some((host, path)) = target.split_once('/') else {
        return;
    };
    let Ok(address) = host.parse::<std::net::SocketAddr>() else {
        return;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))
    else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
}

/// Reads chromedriver's standard output until it says which port it
/// listens on ("... started successfully on port N."), within [`PATIENCE`].
fn announced_port(driver: &mut Child) -> Result<u16, String> {
    let stdout = driver.stdout.take().ok_or("no stdout")?;
    let (lines, received) = mpsc::channel();
    // The thread reads to the end, so that chromedriver never blocks on a
    // full pipe; lines after the port go nowhere.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = received
            .recv_timeout(left)
            .map_err(|_| "it never announced its port".to_owned())?;
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            return rest
                .trim_end_matches('.')
                .trim()
                .parse()
                .map_err(|_| format!("unreadable port in {line:?}"));
        }
    }
}

/// One element of the current page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Element<'_> {
    fn path(&self, tail: &str) -> String {
        format!("/element/{}{tail}", self.id)
    }

    /// Clicks it.
    pub async fn click(&self) {
        self.browser
            .command(reqwest::Method::POST, &self.path("/click"), Some(json!({})))
            .await;
    }

    /// Types `text` into it.
    pub async fn send_keys(&self, text: &str) {
        self.browser
            .command(
                reqwest::Method::POST,
                &self.path("/value"),
                Some(json!({ "text": text })),
            )
            .await;
    }

    /// Its rendered text.
    pub async fn text(&self) -> String {
        let value = self
            .browser
            .command(reqwest::Method::GET, &self.path("/text"), None)
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Its DOM `textContent` (the characters, hidden ones included).
    pub async fn text_content(&self) -> String {
        self.property("textContent").await.unwrap_or_default()
    }

    /// An attribute, if it has it.
    pub async fn attribute(&self, name: &str) -> Option<String> {
        let value = self
            .browser
            .command(
                reqwest::Method::GET,
                &self.path(&format!("/attribute/{name}")),
                None,
            )
            .await;
        value.as_str().map(str::to_owned)
    }

    /// A DOM property, as text, if it has one.
    pub async fn property(&self, name: &str) -> Option<String> {
        let value = self
            .browser
            .command(
                reqwest::Method::GET,
                &self.path(&format!("/property/{name}")),
                None,
            )
            .await;
        match value {
            Value::Null => None,
            Value::String(text) => Some(text),
            other => Some(other.to_string()),
        }
    }

    /// Its classes.
    pub async fn classes(&self) -> Vec<String> {
        self.attribute("class")
            .await
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// The elements under it that `css` selects.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let value = self
            .browser
            .command(
                reqwest::Method::POST,
                &self.path("/elements"),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        value
            .as_array()
            .map(|found| {
                found
                    .iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str())
                    .map(|id| Element {
                        browser: self.browser,
                        id: id.to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element under it that `css` selects.
    pub async fn find(&self, css: &str) -> Element<'_> {
        self.find_all(css)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {css} in the element"))
    }

    /// Selects the `<option>` of a `<select>` whose value is `value`.
    pub async fn select(&self, value: &str) {
        self.find(&format!("option[value=\"{value}\"]"))
            .await
            .click()
            .await;
    }
}
