#!/usr/bin/env node
// run.mjs opens one page in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser is ever downloaded) and forwards what the page reports
// to stdout, one JSON object per line, for ../browser_test.go.
//
//   node browser/run.mjs --url PAGE_URL --user-data-dir DIR [--executable /usr/bin/chromium] [--trust-spki BASE64]
//        [--timeout 60000] [--watch "CSS selector,CSS selector"]
//
// The page (index.html + drupal-nodejs.js) calls window.e2eReport(obj); each obj is
// printed with "name":"page". With --watch, the text of each selector's element is
// printed as {"name":"page","ev":"text","sel":S,"text":T} when the page loads and
// whenever it changes (for pages that do not report themselves, such as /demo). Console messages and page errors are printed as
// {"name":"page","ev":"console"|"pageerror",...}. A line "done" on stdin (or stdin
// closing) closes the browser; the last line is {"ok":true} (exit 0) or
// {"ok":false,"error":...} (exit 1). The whole run is bounded by --timeout ms.

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

async function main() {
  const opts = parseArgs({
    options: {
      url: { type: "string" },
      "user-data-dir": { type: "string" },
      executable: { type: "string", default: "/usr/bin/chromium" },
      timeout: { type: "string", default: "60000" },
      watch: { type: "string", default: "" },
      // base64 SHA-256 of a server's public key that Chromium trusts (a test
      // certificate) without trusting every certificate.
      "trust-spki": { type: "string", default: "" },
    },
    strict: true,
  }).values;
  if (!opts.url || !opts["user-data-dir"]) throw new Error("--url and --user-data-dir are required");
  const timer = setTimeout(() => finish({ ok: false, error: `no "done" within ${opts.timeout} ms` }), Number(opts.timeout));
  timer.unref();

  const { chromium } = require("playwright-core");
  // launchPersistentContext takes the (fresh) user data dir; playwright-core refuses
  // --user-data-dir among the args.
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
      ...(opts["trust-spki"] ? [`--ignore-certificate-errors-spki-list=${opts["trust-spki"]}`] : []),
    ],
    timeout: 30000,
  });
  out({ ev: "browser", version: context.browser() ? context.browser().version() : "" });
  const page = context.pages()[0] || (await context.newPage());
  await page.exposeFunction("e2eReport", (obj) => out(obj));
  page.on("console", (m) => out({ ev: "console", type: m.type(), text: m.text() }));
  page.on("pageerror", (err) => out({ ev: "pageerror", error: String(err && err.message) }));
  page.on("requestfailed", (r) => out({ ev: "requestfailed", url: r.url(), error: r.failure() ? r.failure().errorText : "" }));
  const selectors = opts.watch.split(",").map((x) => x.trim()).filter(Boolean);
  if (selectors.length > 0) {
    // Runs in the page before its own scripts: report each watched element's
    // text once the DOM is there and on every change after.
    await page.addInitScript((sels) => {
      const last = {};
      const report = () => {
        for (const sel of sels) {
          const el = document.querySelector(sel);
          const text = el ? el.textContent : null;
          if (text !== last[sel]) {
            last[sel] = text;
            window.e2eReport({ ev: "text", sel, text });
          }
        }
      };
      document.addEventListener("DOMContentLoaded", () => {
        report();
        new MutationObserver(report).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
      });
    }, selectors);
  }
  const resp = await page.goto(opts.url, { waitUntil: "load", timeout: 30000 });
  out({ ev: "navigated", status: resp ? resp.status() : 0 });

  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (line.trim() === "done") finish({ ok: true });
  });
  rl.on("close", () => finish({ ok: true }));
}

main().catch((err) => finish({ ok: false, error: err && err.stack ? err.stack : String(err) }));
