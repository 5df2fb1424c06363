#!/usr/bin/env node
// admin-ui.mjs drives the socket.io admin UI that socketd serves at /admin/, in
// headless Chromium (Debian's /usr/bin/chromium through playwright-core; no browser
// is ever downloaded), as an operator would, for ../admin_ui_test.go:
//
//   node browser/admin-ui.mjs --url http://127.0.0.1:PORT/admin/ --user-data-dir DIR
//        --username U --password P --sockets ID,ID --room ROOM --disconnect ID
//        [--executable /usr/bin/chromium] [--timeout 120000] [--screenshot FILE.png]
//
// It opens the page (which points the UI at the server that serves it), logs in
// through the UI's login form, waits until the sockets page lists every id of
// --sockets and the rooms page lists --room, then clicks the disconnect button of
// the row of socket --disconnect and waits until that row is gone. Each step is
// printed as {"name":"page","ev":...}; console messages, page errors and failed
// requests too. A line "done" on stdin (or stdin closing) closes the browser; the
// last line is {"ok":true} (exit 0) or {"ok":false,"error":...} (exit 1). The whole
// run is bounded by --timeout ms.

import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);

let context = null;
let finished = false;

function out(obj) {
  process.stdout.write(JSON.stringify({ name: "page", ...obj }) + "\n");
}

async function finish(result) {
  if (finished) return;
  finished = true;
  if (context) {
    try {
      await context.close();
    } catch (err) {
      if (result.ok) result = { ok: false, error: `closing the browser: ${err.message}` };
    }
  }
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : 1));
}

// Each wait of a step is bounded; the whole run is bounded by --timeout.
const STEP_TIMEOUT = 30000;

async function main() {
  const opts = parseArgs({
    options: {
      url: { type: "string" },
      "user-data-dir": { type: "string" },
      executable: { type: "string", default: "/usr/bin/chromium" },
      timeout: { type: "string", default: "120000" },
      username: { type: "string", default: "" },
      password: { type: "string", default: "" },
      sockets: { type: "string", default: "" },
      room: { type: "string", default: "" },
      disconnect: { type: "string", default: "" },
      screenshot: { type: "string", default: "" },
    },
    strict: true,
  }).values;
  if (!opts.url || !opts["user-data-dir"]) throw new Error("--url and --user-data-dir are required");
  const timer = setTimeout(() => finish({ ok: false, error: `no "done" within ${opts.timeout} ms` }), Number(opts.timeout));
  timer.unref();

  const { chromium } = require("playwright-core");
  context = await chromium.launchPersistentContext(opts["user-data-dir"], {
    executablePath: opts.executable,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1400, height: 900 },
    timeout: 30000,
  });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => out({ ev: "console", type: m.type(), text: m.text() }));
  page.on("pageerror", (err) => out({ ev: "pageerror", error: String(err && err.message) }));
  page.on("requestfailed", (r) => out({ ev: "requestfailed", url: r.url(), error: r.failure() ? r.failure().errorText : "" }));
  // socketd's page asks nothing of other sites (the package's asks CDNs for
  // fonts and icons); should it, the request fails at once (reported as
  // requestfailed) rather than wait for DNS on a machine without internet.
  await page.route(/^https?:\/\/(?!127\.0\.0\.1|\[::1\]|localhost)/, (route) => route.abort());

  const resp = await page.goto(opts.url, { waitUntil: "load", timeout: STEP_TIMEOUT });
  out({ ev: "navigated", status: resp ? resp.status() : 0 });

  // The UI connects to the server at once (socketd-config.js gave it the
  // address); without a session that is refused and the login form opens.
  const user = page.getByLabel("Username");
  await user.waitFor({ state: "visible" });
  const serverURL = await page.getByLabel("Server URL").inputValue();
  out({ ev: "login_form", serverUrl: serverURL });
  await user.fill(opts.username);
  await page.getByLabel("Password").fill(opts.password);
  await page.getByRole("button", { name: "Connect" }).click();
  await user.waitFor({ state: "hidden" });
  out({ ev: "logged_in" });

  await page.evaluate(() => (window.location.hash = "#/sockets/"));
  for (const id of opts.sockets.split(",").filter(Boolean)) {
    await page.locator("tr:visible", { hasText: id }).first().waitFor({ state: "visible" });
    out({ ev: "socket_listed", id });
  }

  if (opts.room) {
    await page.evaluate(() => (window.location.hash = "#/rooms/"));
    await page.locator("tr:visible", { hasText: opts.room }).first().waitFor({ state: "visible" });
    out({ ev: "room_listed", room: opts.room });
  }

  if (opts.disconnect) {
    await page.evaluate(() => (window.location.hash = "#/sockets/"));
    const row = page.locator("tr:visible", { hasText: opts.disconnect });
    await row.first().waitFor({ state: "visible" });
    await row.first().locator("button").click();
    out({ ev: "disconnect_clicked", id: opts.disconnect });
    // The click reaches the row too, which opens the socket's page: back to
    // the list, where the row must go once the server reports the socket gone.
    await page.evaluate(() => (window.location.hash = "#/sockets/"));
    await page.locator("tr:visible", { hasText: opts.disconnect }).first().waitFor({ state: "detached" });
    out({ ev: "socket_gone", id: opts.disconnect });
  }

  if (opts.screenshot) {
    await page.screenshot({ path: opts.screenshot, fullPage: true });
    out({ ev: "screenshot", path: opts.screenshot });
  }
  out({ ev: "steps_done" });

  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (line.trim() === "done") finish({ ok: true });
  });
  rl.on("close", () => finish({ ok: true }));
}

main().catch((err) => finish({ ok: false, error: err && err.stack ? err.stack : String(err) }));
